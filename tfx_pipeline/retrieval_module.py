"""The retrieval family's Transform and Trainer code: ``preprocessing_fn`` and ``run_fn`` (TFX module file).

* ``preprocessing_fn``: the snippet PNG → ``sheet`` [80, 100, 1] and each WAV excerpt → ``audio`` /
  ``audio_ensemble`` [83, 128] log-mel, with :mod:`zoo.preprocessing.snippets` (what the library, the benchmark
  and the serving signatures use); the centred note's pitch → ``label``, the label loss's class
  (:func:`zoo.models.retrieval.pitch_class_index`).
* ``run_fn``: the shipped ``retrieval-gcn`` (its reference bank, sha256-checked) with its CNN trunks frozen, as its
  own graph stage trains (0020): the bank holds those trunks' outputs, so it stays valid. The graph and FC
  encoders, the shared layer and the classifiers are fine-tuned with the zoo's step
  (:func:`zoo.training.retrieval.train_step`: label, modality-invariance and ranking losses), each pair hearing
  its own part or the whole ensemble at random and shifted a little (:func:`zoo.training.retrieval.augment`), as
  the shipped recipe trains. There is no cold start: a graph model needs trained trunks to build its bank from.
  The SavedModel carries:

  - ``embed_audio`` (= ``serving_default``) and ``embed_sheet``: the zoo model's own signatures (whole recordings
    and staff images, windowed), what TF Serving clients call;
  - ``serving_examples(examples: string[None]) → {embeddings: [B, 2, D]}``: each pair's audio excerpt and sheet
    snippet embedded (L2-normalised), which the Evaluator's ``RetrievalMRR`` and ``RecallAt1`` rank;
  - ``transform_features(examples: string[None]) →`` the transformed features TFMA reads the label from.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2 before TensorFlow loads, also in a fresh worker

import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
from tfx_bsl.public import tfxio  # noqa: E402

from tfx_pipeline import trainer  # noqa: E402
from tfx_pipeline.families.retrieval import RETRIEVAL as FAMILY  # noqa: E402
from tfx_pipeline.features import column  # noqa: E402
from tfx_pipeline.signatures import pipeline_signatures  # noqa: E402
from zoo.models.retrieval import MODALITIES, RetrievalModel, pitch_class_index  # noqa: E402
from zoo.preprocessing import snippets  # noqa: E402
from zoo.training import retrieval as retrieval_training  # noqa: E402
from zoo.training.configs import RetrievalConfig  # noqa: E402

ENSEMBLE_KEY = "audio_ensemble"  # the same instant with every part sounding
PASSTHROUGH_KEYS = ("piece_id",)
DEFAULT_FORMATS = ("wav",)
SHUFFLE_BUFFER = 1024  # transformed pairs are ~120 kB of floats
LOG_EVERY = 50


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Raw features (batch) → ``sheet`` [B, 80, 100, 1], ``audio`` (and ``audio_ensemble``) [B, 83, 128],
    ``label`` [B] and the pass-through ids."""
    formats = tuple((custom_config or {}).get("formats") or DEFAULT_FORMATS)
    outputs: dict[str, Any] = {
        "sheet": tf.map_fn(snippets.snippet_bytes_to_input, column(inputs["snippet"]),
                           fn_output_signature=tf.TensorSpec(snippets.SHEET_SHAPE, tf.float32)),
        "audio": snippets.audio_bytes_to_input(column(inputs["audio"]), formats)}
    if ENSEMBLE_KEY in inputs:
        outputs[ENSEMBLE_KEY] = snippets.audio_bytes_to_input(column(inputs[ENSEMBLE_KEY]), formats)
    if FAMILY.label_key in inputs:
        outputs[FAMILY.transformed_label_key] = tf.cast(pitch_class_index(column(inputs[FAMILY.label_key])), tf.int64)
    for key in PASSTHROUGH_KEYS:
        if key in inputs:
            outputs[key] = column(inputs[key])
    return outputs


def embeddings(model: RetrievalModel, features: dict[str, Any]) -> dict[str, tf.Tensor]:
    """``{embeddings: [B, 2, D]}``: each transformed pair's audio and sheet embedding, as the library embeds them."""
    return {"embeddings": tf.stack([model.embed_inputs("audio", features["audio"]),
                                    model.embed_inputs("sheet", features["sheet"])], 1)}


# ---------------------------------------------------------------------------------------------------- training


def _dataset(files: list[str], data_accessor: tfx.components.DataAccessor, tft_output: tft.TFTransformOutput,
             batch_size: int, shift: int, training: bool) -> tf.data.Dataset:
    """(sheet, audio, label, bank row -1) batches; for training each pair hears its part or the ensemble at random,
    shifted a little, repeated."""
    ds = data_accessor.tf_dataset_factory(
        files, tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle=training,
                                              shuffle_buffer_size=SHUFFLE_BUFFER, num_epochs=None if training else 1),
        tft_output.transformed_metadata.schema).unbatch()

    def pair(f: dict[str, tf.Tensor]) -> tuple[tf.Tensor, ...]:
        label = tf.cast(tf.reshape(f[FAMILY.transformed_label_key], []), tf.int32)
        if not training:
            return f["sheet"], f["audio"], label, tf.constant(-1, tf.int32)
        heard = tf.where(tf.random.uniform([]) < 0.5, f["audio"], f[ENSEMBLE_KEY])
        return (*retrieval_training.augment(f["sheet"], heard, label, shift), tf.constant(-1, tf.int32))

    ds = ds.map(pair, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def validation_figures(model: RetrievalModel, ds: tf.data.Dataset, limit: int) -> dict[str, Any]:
    """R@1 and MRR both ways over the first ``limit`` eval pairs (the Evaluator ranks the whole split)."""
    audio, sheet = [], []
    for s, a, _, _ in ds:
        audio.append(model.embed_inputs("audio", a).numpy())
        sheet.append(model.embed_inputs("sheet", s).numpy())
        if sum(map(len, audio)) >= limit:
            break
    emb = {"audio": np.concatenate(audio)[:limit], "sheet": np.concatenate(sheet)[:limit]}
    return retrieval_training.evaluate(emb)


def export_saved_model(model: RetrievalModel, tft_output: tft.TFTransformOutput, export_dir: str,
                       formats: tuple[str, ...] = DEFAULT_FORMATS) -> None:
    """Write the SavedModel with the embedding, tf.Example and transform signatures (see module docstring)."""
    module = model.trackable()
    signatures = {**model.serving_signatures(formats=formats),  # embed_audio / embed_sheet: the zoo's own
                  **pipeline_signatures(module, tft_output, FAMILY.raw_input_keys, lambda f: embeddings(model, f))}
    tf.saved_model.save(module, export_dir, signatures=signatures)


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """TFX Trainer entry point: fine-tune the shipped retrieval-gcn's encoders on the transformed pairs, then the
    SavedModel.

    ``custom_config``: model_name, warm_start (default: the shipped weights and bank), batch_size, learning_rate
    (warm_start_learning_rate when warm starting), seed, formats.
    """
    config = trainer.settings(FAMILY, fn_args.custom_config)
    config["warm_start"] = config.get("warm_start") or "pretrained"  # the trunks and bank must be trained ones
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    model: RetrievalModel = trainer.starting_model(FAMILY, config)
    for m in MODALITIES:
        model.keras_model.trunks[m].trainable = False
    base = RetrievalConfig()
    recipe = replace(base, train=replace(base.train, batch_size=int(config["batch_size"]),
                                         seed=int(config.get("seed", 0)))).check()
    optimizer = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(
        trainer.learning_rate(config), decay_steps=max(1, fn_args.train_steps), alpha=0.05))
    step = retrieval_training.train_step(model, optimizer, recipe, raw_inputs=False)
    batch_size = recipe.train.batch_size
    train_ds = _dataset(fn_args.train_files, fn_args.data_accessor, tft_output, batch_size, recipe.train.shift, True)
    writer = tf.summary.create_file_writer(fn_args.model_run_dir)
    start, recent = time.perf_counter(), []
    with writer.as_default():
        for i, batch in enumerate(train_ds.take(fn_args.train_steps), 1):
            recent.append({k: float(v) for k, v in step(*batch).items()})
            for k, v in recent[-1].items():
                tf.summary.scalar(k, v, step=i)
            if i % LOG_EVERY == 0 or i == fn_args.train_steps:
                means = {k: np.mean([r[k] for r in recent]) for k in recent[0]}
                print(f"step {i}/{fn_args.train_steps}: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items())
                      + f" ({time.perf_counter() - start:.0f} s)", flush=True)
                recent = []
        eval_ds = _dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, batch_size, 0, False)
        figures = validation_figures(model, eval_ds, max(2, fn_args.eval_steps * batch_size))
        mrr = retrieval_training.mean_mrr(figures)
        tf.summary.scalar("eval_mrr", mrr, step=fn_args.train_steps)
    print(f"eval: MRR {mrr:.4f}, R@1 audio→sheet {figures['audio_to_sheet']['R@1']:.3f}, sheet→audio "
          f"{figures['sheet_to_audio']['R@1']:.3f} at {figures['audio_to_sheet']['candidates']} candidates",
          flush=True)
    export_saved_model(model, tft_output, fn_args.serving_model_dir, tuple(config.get("formats") or DEFAULT_FORMATS))
