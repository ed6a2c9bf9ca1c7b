"""The score-recognition family's Transform and Trainer code: ``preprocessing_fn`` and ``run_fn`` (TFX module file).

* ``preprocessing_fn``: staff image bytes → the zoo's normalized staff (``zoo.preprocessing.image.png_to_staff``,
  the function training, ``recognize`` and the serving signature share: margins trimmed, height 64, ink white),
  kept as an 8-bit PNG with its width, so the transformed examples stay small (a float staff is ~200 kB; 8 bits
  change a pixel by at most 1/510, far below what a scan or photo varies); the tokens → their ids in the shipped
  model's vocabulary (-1 for an unknown one, which the reviewed schema stops first).
* ``run_fn``: ``zoo.load("omr-resnet-bisru")`` for a warm start (with its sign head and reading rules) or
  ``zoo.create_model`` with the same vocabulary (:mod:`tfx_pipeline.trainer`), CTC training on the transformed
  staves for the configured steps (:func:`zoo.training.omr.batched_by_width`,
  :func:`zoo.training.omr.make_train_step`), and a SavedModel with:

  - ``serving_default(image: string[None]) → {tokens, lengths, confidence, token_confidences}``: the zoo model's own
    serving signature, what TF Serving clients call;
  - ``serving_examples(examples: string[None]) →`` the same outputs, through the Transform graph: what the
    Evaluator (TFMA) scores;
  - ``transform_features(examples: string[None]) →`` the transformed features (``label`` as ids padded with -1),
    plus ``reference``: the label tokens as strings, padded with "", which :mod:`tfx_pipeline.metrics` compares
    with the read ``tokens``.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2 before TensorFlow loads, also in a fresh worker

import time  # noqa: E402
from typing import Any  # noqa: E402

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
from tfx_bsl.public import tfxio  # noqa: E402

from tfx_pipeline import trainer  # noqa: E402
from tfx_pipeline.families.omr import OMR as FAMILY  # noqa: E402
from tfx_pipeline.features import column, label_index  # noqa: E402
from tfx_pipeline.signatures import pipeline_signatures  # noqa: E402
from zoo.models.omr import ScoreRecognizer, output_lengths  # noqa: E402
from zoo.preprocessing import image as staff_image  # noqa: E402
from zoo.training import ctc  # noqa: E402
from zoo.training.omr import batched_by_width, make_train_step  # noqa: E402

STAFF_KEY = "staff"  # transformed: the normalized staff as an 8-bit PNG
WIDTH_KEY = "width"  # transformed: its width in pixels (the raw feature of that name is the engraving's)
PASSTHROUGH_KEYS = ("piece_id", "font")
UNKNOWN = "<unknown>"  # what an out-of-vocabulary label token reads as in ``reference`` (it counts as an error)
SHUFFLE_BUFFER = 1024  # transformed examples are ~5 kB PNGs
LOG_EVERY = 50  # training steps between loss lines


def _staff_png(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    staff = staff_image.png_to_staff(image, staff_image.HEIGHT)
    pixels = tf.cast(tf.round(tf.clip_by_value(staff, 0.0, 1.0) * 255.0), tf.uint8)
    return tf.io.encode_png(pixels), tf.cast(tf.shape(staff)[1], tf.int64)


def decode_staff(png: tf.Tensor) -> tf.Tensor:
    """One transformed staff (8-bit PNG) → the float staff [64, W, 1] the network reads."""
    return tf.ensure_shape(tf.cast(tf.io.decode_png(png, channels=1), tf.float32) / 255.0,
                           [staff_image.HEIGHT, None, 1])


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Raw features (batch) → ``staff`` [B] (PNG), ``width`` [B], ``label`` (sparse ids) and the pass-through ids."""
    staves, widths = tf.map_fn(_staff_png, column(inputs["image"]),
                               fn_output_signature=(tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int64)))
    outputs: dict[str, Any] = {STAFF_KEY: staves, WIDTH_KEY: widths}
    if FAMILY.label_key in inputs:
        tokens = inputs[FAMILY.label_key]
        outputs[FAMILY.transformed_label_key] = tf.SparseTensor(
            tokens.indices, label_index(tokens.values, FAMILY.labels), tokens.dense_shape)
    for key in PASSTHROUGH_KEYS:
        if key in inputs:
            outputs[key] = column(inputs[key])
    return outputs


def reference_tokens(label: tf.SparseTensor) -> tf.Tensor:
    """Label ids (sparse, -1 unknown) → token strings [B, L] padded with "" (what the metrics compare)."""
    vocab = tf.constant(list(FAMILY.labels) + ["", UNKNOWN])
    ids = tf.sparse.to_dense(label, default_value=len(FAMILY.labels))
    return tf.gather(vocab, tf.where(ids < 0, tf.cast(len(FAMILY.labels) + 1, ids.dtype), ids))


# ---------------------------------------------------------------------------------------------------- training


def _dataset(files: list[str], data_accessor: tfx.components.DataAccessor, tft_output: tft.TFTransformOutput,
             batch_size: int, training: bool) -> tf.data.Dataset:
    """({image, width}, labels) batches of transformed staves of similar width, repeated (what the CTC step takes)."""
    ds = data_accessor.tf_dataset_factory(
        files, tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle=training,
                                              shuffle_buffer_size=SHUFFLE_BUFFER),
        tft_output.transformed_metadata.schema,
    ).unbatch()

    def pair(features: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        staff = decode_staff(features[STAFF_KEY])
        labels = features[FAMILY.transformed_label_key]
        labels = labels.values if isinstance(labels, tf.SparseTensor) else tf.reshape(labels, [-1])
        return {"image": staff, "width": tf.shape(staff)[1]}, tf.cast(labels, tf.int64)

    return batched_by_width(ds.map(pair, num_parallel_calls=tf.data.AUTOTUNE), batch_size, staff_image.HEIGHT)


def check_vocabulary(model: ScoreRecognizer) -> ScoreRecognizer:
    """A warm start's model reads the family's tokens in the family's order, or the labels would not match."""
    if list(model.vocabulary) != list(FAMILY.labels):
        raise ValueError(f"{model.name} reads {len(model.vocabulary)} tokens, not the family's {len(FAMILY.labels)}: "
                         "the pipeline's labels would not match its outputs")
    return model


def ctc_loss_of(net: tf.keras.Model, ds: tf.data.Dataset, steps: int) -> float:
    """Mean per-token CTC loss of ``net`` over ``steps`` batches (the Trainer's eval figure)."""
    losses = [float(ctc.ctc_loss(labels, net(inputs, training=False), output_lengths(inputs["width"])))
              for inputs, labels in ds.take(steps)]
    return sum(losses) / max(1, len(losses))


def export_saved_model(model: ScoreRecognizer, tft_output: tft.TFTransformOutput, export_dir: str) -> None:
    """Write the SavedModel with the raw-bytes, tf.Example and transform signatures (see module docstring)."""
    module = model.trackable()

    def for_evaluation(features: dict[str, Any]) -> dict[str, Any]:
        features = dict(features)
        label = features[FAMILY.transformed_label_key]
        features[FAMILY.eval_label_key] = reference_tokens(label)
        features[FAMILY.transformed_label_key] = tf.sparse.to_dense(label, default_value=-1)  # ids padded with -1
        return features

    signatures = {**model.serving_signatures(),  # serving_default: the zoo's one definition
                  **pipeline_signatures(module, tft_output, FAMILY.raw_input_keys,
                                        lambda f: model.serving_outputs(f[STAFF_KEY], to_staff=decode_staff),
                                        for_evaluation)}
    tf.saved_model.save(module, export_dir, signatures=signatures)


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """TFX Trainer entry point: CTC training of the zoo model on the transformed staves, then the SavedModel.

    ``custom_config``: model_name, warm_start, batch_size, learning_rate (warm_start_learning_rate when warm
    starting), seed (defaults from the family spec).
    """
    config = trainer.settings(FAMILY, fn_args.custom_config)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    # warm: the zoo's model with its sign head and reading rules; cold: the family's vocabulary, no rules
    model = check_vocabulary(trainer.starting_model(FAMILY, config, vocabulary=list(FAMILY.labels)))
    batch_size = int(config["batch_size"])
    net = model.keras_model
    step = make_train_step(net, tf.keras.optimizers.Adam(trainer.learning_rate(config)))
    train_ds = _dataset(fn_args.train_files, fn_args.data_accessor, tft_output, batch_size, training=True).repeat()
    eval_ds = _dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, batch_size, training=False).repeat()
    writer = tf.summary.create_file_writer(fn_args.model_run_dir)
    start, recent = time.perf_counter(), []
    with writer.as_default():
        for i, (inputs, labels) in enumerate(train_ds.take(fn_args.train_steps), 1):
            recent.append(float(step(inputs, labels)))
            tf.summary.scalar("ctc_loss", recent[-1], step=i)
            if i % LOG_EVERY == 0 or i == fn_args.train_steps:
                print(f"step {i}/{fn_args.train_steps}: CTC loss {sum(recent) / len(recent):.4f} per token "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
                recent = []
        eval_loss = ctc_loss_of(net, eval_ds, fn_args.eval_steps)
        tf.summary.scalar("eval_ctc_loss", eval_loss, step=fn_args.train_steps)
    print(f"eval: CTC loss {eval_loss:.4f} per token over {fn_args.eval_steps} batches", flush=True)
    export_saved_model(model, tft_output, fn_args.serving_model_dir)
