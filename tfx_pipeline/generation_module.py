"""The generation family's Transform and Trainer code: ``preprocessing_fn`` and ``run_fn`` (TFX module file).

* ``preprocessing_fn``: the clip's event ids (:mod:`zoo.datasets.events`) pass through as a variable-length
  feature; the genre string → ``label`` (its index in gen-lstm's genres) and ``genre_id`` (the conditioning id the
  network reads: label + 1, 0 being "no genre").
* ``run_fn``: ``zoo.load("gen-lstm")`` for a warm start, else ``zoo.create_model``; the zoo's own training loop
  (:func:`zoo.training.generation.lstm_batch` crops, :func:`~zoo.training.generation.lstm_train_step`, validated on
  the eval split's NLL per event, the best iteration kept) on the transformed clips, which fit in memory (events
  are a few hundred ids a clip); frame-level accuracy of the chosen model on ``frame_clips`` validation clips
  (:func:`zoo.training.generation.evaluate_split`) is written to ``validation.json`` beside the TensorBoard logs.
  The SavedModel carries:

  - ``generate`` (= ``serving_default``): the zoo model's own sampling signature, what TF Serving clients call;
  - ``serving_examples(examples: string[None]) → {likelihood: [B, 2]}``: each clip's teacher-forced NLL summed
    over its events and its event count (:func:`zoo.training.generation.clip_nll`), what the Evaluator's
    ``NegativeLogLikelihoodPerEvent`` adds up;
  - ``transform_features(examples: string[None]) →`` the transformed features TFMA reads the label from.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2 before TensorFlow loads, also in a fresh worker

import json  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
from tfx_bsl.public import tfxio  # noqa: E402

from tfx_pipeline import trainer  # noqa: E402
from tfx_pipeline.families.generation import GENERATION as FAMILY  # noqa: E402
from tfx_pipeline.features import column, label_index  # noqa: E402
from tfx_pipeline.signatures import pipeline_signatures  # noqa: E402
from zoo.models.generation import GenerationModel  # noqa: E402
from zoo.training import generation as gen_training  # noqa: E402
from zoo.training.configs import GenerationConfig  # noqa: E402

EVENTS_KEY = "events"
GENRE_ID_KEY = "genre_id"
PASSTHROUGH_KEYS = ("piece_id", "sample_id")
READ_BATCH = 256


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Raw features (batch) → ``events`` (sparse ids), ``genre_id`` [B], ``label`` [B] and the pass-through ids."""
    outputs: dict[str, Any] = {EVENTS_KEY: inputs[EVENTS_KEY]}
    label = label_index(column(inputs[FAMILY.label_key]), FAMILY.labels)
    outputs[FAMILY.transformed_label_key] = label
    outputs[GENRE_ID_KEY] = label + 1
    for key in PASSTHROUGH_KEYS:
        if key in inputs:
            outputs[key] = column(inputs[key])
    return outputs


def dense_rows(x: tf.SparseTensor | tf.RaggedTensor | tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """A batch of variable-length rows → (dense [B, T] padded with 0, lengths [B])."""
    if isinstance(x, tf.SparseTensor):
        x = tf.RaggedTensor.from_sparse(x)
    if isinstance(x, tf.RaggedTensor):
        return x.to_tensor(0), tf.cast(x.row_lengths(), tf.int32)
    return x, tf.fill([tf.shape(x)[0]], tf.shape(x)[1])


def likelihood(model: GenerationModel, features: dict[str, Any]) -> dict[str, tf.Tensor]:
    """``{likelihood: [B, 2]}``: summed NLL and event count of each transformed clip."""
    events, lengths = dense_rows(features[EVENTS_KEY])
    nll, count = gen_training.clip_nll(model.keras_model, events, lengths, column(features[GENRE_ID_KEY]))
    return {"likelihood": tf.stack([nll, count], -1)}


# ---------------------------------------------------------------------------------------------------- training


def read_clips(files: list[str], data_accessor: tfx.components.DataAccessor, tft_output: tft.TFTransformOutput
               ) -> gen_training.Clips:
    """A split's transformed clips in memory, in the zoo trainer's :class:`~zoo.training.generation.Clips`."""
    ds = data_accessor.tf_dataset_factory(
        files, tfxio.TensorFlowDatasetOptions(batch_size=READ_BATCH, num_epochs=1, shuffle=False),
        tft_output.transformed_metadata.schema)
    events, genre, pieces, samples = [], [], [], []
    for batch in ds:
        dense, lengths = dense_rows(batch[EVENTS_KEY])
        for row, n in zip(dense.numpy(), lengths.numpy()):
            events.append(row[:n].astype(np.int32))
        genre.extend(column(batch[FAMILY.transformed_label_key]).numpy().tolist())
        for key, out in (("piece_id", pieces), ("sample_id", samples)):
            out.extend(v.decode() for v in column(batch[key]).numpy())
    return gen_training.Clips(events, np.asarray(genre, int), pieces, samples)


def train_config(config: dict[str, Any], steps: int) -> GenerationConfig:
    """The zoo's gen-lstm training settings with the Trainer's steps, batch, learning rate and seed; validated four
    times, keeping the best."""
    base = GenerationConfig()
    return replace(base, train=replace(
        base.train, steps=steps, batch_size=int(config["batch_size"]), learning_rate=trainer.learning_rate(config),
        eval_every=max(1, steps // 4), patience=steps, minutes=float(config.get("minutes", 600)), checkpoints=(),
        seed=int(config.get("seed", 0)))).check()


def export_saved_model(model: GenerationModel, tft_output: tft.TFTransformOutput, export_dir: str) -> None:
    """Write the SavedModel with the sampling, tf.Example and transform signatures (see module docstring)."""
    module = model.trackable()

    def for_evaluation(features: dict[str, Any]) -> dict[str, Any]:  # a signature returns dense tensors only
        return {k: v for k, v in features.items() if not isinstance(v, (tf.SparseTensor, tf.RaggedTensor))}

    signatures = {**model.serving_signatures(),  # generate / serving_default: the zoo's one definition
                  **pipeline_signatures(module, tft_output, FAMILY.raw_input_keys,
                                        lambda f: likelihood(model, f), for_evaluation)}
    tf.saved_model.save(module, export_dir, signatures=signatures)


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """TFX Trainer entry point: the zoo's gen-lstm training on the transformed clips, then the SavedModel.

    ``custom_config``: model_name, warm_start, batch_size, learning_rate (warm_start_learning_rate when warm
    starting), seed, frame_clips (validation clips whose frame-level accuracy is reported).
    """
    config = trainer.settings(FAMILY, fn_args.custom_config)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    model = trainer.starting_model(FAMILY, config)
    if list(model.labels) != list(FAMILY.labels):
        raise ValueError(f"{model.name} is conditioned on {model.labels}, the pipeline's genres are "
                         f"{list(FAMILY.labels)}")
    train_clips = read_clips(fn_args.train_files, fn_args.data_accessor, tft_output)
    val_clips = read_clips(fn_args.eval_files, fn_args.data_accessor, tft_output)
    print(f"clips: train {len(train_clips)}, {FAMILY.eval_split} {len(val_clips)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gen-lstm-trainer-") as scratch:  # the loop's best and last weights
        summary = gen_training.train_lstm(model, train_clips, val_clips, train_config(config, fn_args.train_steps),
                                          Path(scratch), log=lambda message: print(message, flush=True))
    figures = gen_training.evaluate_split(model, val_clips, frame_clips=int(config.get("frame_clips", 20)))
    print(f"{FAMILY.eval_split}: {json.dumps(figures)}", flush=True)
    tf.io.gfile.makedirs(fn_args.model_run_dir)  # a local folder or a gs:// URI
    with tf.io.gfile.GFile(f"{fn_args.model_run_dir}/validation.json", "w") as f:
        f.write(json.dumps({**figures, "best_step": summary["best_step"]}, indent=1))
    with tf.summary.create_file_writer(fn_args.model_run_dir).as_default():
        for key in ("nll_per_event", "frame_accuracy", "frame_accuracy_repeat_floor"):
            if key in figures:
                tf.summary.scalar(f"{FAMILY.eval_split}_{key}", figures[key], step=fn_args.train_steps)
    export_saved_model(model, tft_output, fn_args.serving_model_dir)
