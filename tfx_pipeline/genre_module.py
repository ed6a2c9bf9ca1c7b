"""The genre family's Transform and Trainer code: ``preprocessing_fn`` and ``run_fn`` (TFX module file).

* ``preprocessing_fn``: WAV bytes → log-mel with the zoo's front end (``zoo.preprocessing.audio``, the function the
  zoo model and its serving signature use), the genre string → its index in the model's fixed label list.
* ``run_fn``: ``zoo.create_model("genre-cnn")`` (or ``zoo.load`` for a warm start), a few epochs on the transformed
  examples, and a SavedModel with three signatures:

  - ``serving_default(audio: string[None]) → {genre, scores}``: the zoo model's own serving signature (raw WAV).
  - ``serving_examples(examples: string[None]) → {genre, scores}``: serialized tf.Examples through the Transform
    graph, then the model; what the Evaluator (TFMA) scores.
  - ``transform_features(examples: string[None]) → transformed features``: gives TFMA the integer label.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2 before TensorFlow loads, also in a fresh worker

from typing import Any  # noqa: E402

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
from tfx_bsl.public import tfxio  # noqa: E402

import zoo  # noqa: E402
from tfx_pipeline import trainer  # noqa: E402
from tfx_pipeline.families.genre import GENRE as FAMILY  # noqa: E402
from tfx_pipeline.features import column, label_index  # noqa: E402
from tfx_pipeline.signatures import pipeline_signatures  # noqa: E402
from zoo.preprocessing import audio  # noqa: E402
from zoo.training.genre import augment  # noqa: E402

LOG_MEL_KEY = "log_mel"  # transformed feature = the Keras model's input name
PASSTHROUGH_KEYS = ("piece_id",)  # kept in the transformed examples (piece-level evaluation)
DEFAULT_FORMATS = ("wav",)  # decoders in the graph: WAV only keeps tensorflow-io ops out (stock TF Serving)
SHUFFLE_BUFFER = 512  # transformed examples are 427 × 128 floats (~220 kB): 512 of them ~110 MB of memory


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any] | None = None) -> dict[str, tf.Tensor]:
    """Raw features (batch) → ``log_mel`` [B, 427, 128], ``label`` [B] and the pass-through ids."""
    formats = tuple((custom_config or {}).get("formats") or DEFAULT_FORMATS)
    outputs = {LOG_MEL_KEY: audio.audio_bytes_to_log_mel(column(inputs["audio"]), audio.CLIP_SECONDS, formats)}
    if FAMILY.label_key in inputs:
        outputs[FAMILY.transformed_label_key] = label_index(column(inputs[FAMILY.label_key]), FAMILY.labels)
    for key in PASSTHROUGH_KEYS:
        if key in inputs:
            outputs[key] = column(inputs[key])
    return outputs


# ---------------------------------------------------------------------------------------------------- training


def _dataset(files: list[str], data_accessor: tfx.components.DataAccessor, tft_output: tft.TFTransformOutput,
             batch_size: int, training: bool) -> tf.data.Dataset:
    """(log_mel [B, frames, 128], label [B]) batches of transformed examples, repeated; augmented for training."""
    ds = data_accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=FAMILY.transformed_label_key,
                                       shuffle=training, shuffle_buffer_size=SHUFFLE_BUFFER),
        tft_output.transformed_metadata.schema,
    ).map(lambda features, label: (features[LOG_MEL_KEY], column(label)))
    if training:  # the zoo trainer's augmentation works on single examples
        ds = ds.unbatch().map(augment, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)


def export_saved_model(model: zoo.ZooModel, tft_output: tft.TFTransformOutput, export_dir: str,
                       formats: tuple[str, ...] = DEFAULT_FORMATS) -> None:
    """Write the Keras SavedModel with the raw-bytes, tf.Example and transform signatures (see module docstring)."""
    net = model.keras_model
    signatures = {**model.serving_signatures(formats=formats),  # serving_default: the zoo's one definition
                  **pipeline_signatures(net, tft_output, FAMILY.raw_input_keys,
                                        lambda f: model.serving_outputs(net(f[LOG_MEL_KEY], training=False)))}
    net.save(export_dir, save_format="tf", signatures=signatures)


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """TFX Trainer entry point: train the zoo model on the transformed examples and export the SavedModel.

    ``custom_config``: model_name, warm_start, batch_size, learning_rate (warm_start_learning_rate when warm
    starting), formats, seed (defaults from the family spec).
    """
    config = trainer.settings(FAMILY, fn_args.custom_config)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    model = trainer.starting_model(FAMILY, config)
    if list(model.labels) != list(FAMILY.labels):
        raise ValueError(f"{model.name} predicts {model.labels}, the pipeline's labels are {list(FAMILY.labels)}")
    batch_size = int(config["batch_size"])
    net = model.keras_model
    net.compile(optimizer=tf.keras.optimizers.Adam(trainer.learning_rate(config)),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train_ds = _dataset(fn_args.train_files, fn_args.data_accessor, tft_output, batch_size, training=True)
    eval_ds = _dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, batch_size, training=False)
    net.fit(train_ds, steps_per_epoch=fn_args.train_steps, epochs=1, validation_data=eval_ds,
            validation_steps=fn_args.eval_steps, verbose=2,
            callbacks=[tf.keras.callbacks.TensorBoard(fn_args.model_run_dir, update_freq="epoch")])
    export_saved_model(model, tft_output, fn_args.serving_model_dir, tuple(config.get("formats") or DEFAULT_FORMATS))
