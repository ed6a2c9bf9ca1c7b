"""Train a recognizer's sign head (:mod:`zoo.models.sign_head`) on its frozen features.

The network is not changed: its recurrent features of training staves (with the training augmentations) are
computed once, then the head, one linear layer, learns with CTC to read each staff's printed signs and token
kinds (each note as its line or space) from them. That takes minutes on the CPU, where training the network takes hours.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tqdm import tqdm

import zoo
from zoo import config as config_lib
from zoo import paths
from zoo.decoding import ReadingConfig
from zoo.decoding.config import Accidentals
from zoo.models.omr import ScoreRecognizer, output_lengths
from zoo.notation import printed
from zoo.pretrained import file_entry
from zoo.training import ctc, omr
from zoo.training.derived_runs import refuse_existing_run, run_manifest, write_derived_run
from zoo.training.omr import earlier_stages

SIGNS_FILE = "signs.weights.h5"
# The augmentations of the shipped model's last stages, so the head sees staves as the network learnt them.
AUGMENT = {"augment_probability": 0.5, "width_scale": [0.75, 1.5], "width_scale_probability": 0.3,
           "margin": [0.0, 0.3], "margin_probability": 0.3, "ink": [0, 1], "ink_probability": 0.4}


def training_features(model: ScoreRecognizer, data_dir: Path, extra_data: list[str], extra_share: list[float],
                      staves: int, seed: int) -> tuple[list[np.ndarray], list[list[int]]]:
    """Features [frames, units] and sign head labels of ``staves`` augmented training staves."""
    vocabulary, height = model.vocabulary, model.config["height"]
    ds = omr.training_mix(data_dir, extra_data, extra_share, vocabulary, 16, height, seed, **AUGMENT)
    features = tf.function(tf.keras.Model(model.keras_model.inputs, model.features()), reduce_retracing=True)
    xs: list[np.ndarray] = []
    ys: list[list[int]] = []
    with tqdm(total=staves, desc="features", unit="staff") as bar:
        for inputs, labels in ds:
            out = features(inputs, training=False).numpy().astype(np.float16)
            for x, n, row in zip(out, output_lengths(inputs["width"]).numpy(), labels.numpy()):
                y = printed.label_ids([vocabulary[i] for i in row if i >= 0])
                if n >= 2 * len(y):  # as for the token output: CTC needs room for the labels
                    xs.append(x[:n])
                    ys.append(y)
            bar.update(len(out))
            if bar.n >= staves:
                return xs, ys
    return xs, ys


def fit(layer_model: tf.keras.Model, xs: list[np.ndarray], ys: list[list[int]], epochs: int, learning_rate: float,
        seed: int, batch_size: int = 32) -> list[float]:
    """CTC on cached features, batches of similar length; the mean loss per epoch."""
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    # features in, head logits out; each staff's feature count is its frame count
    step = ctc.make_train_step(layer_model, optimizer, lambda inputs: inputs[1], per_token=False,
                               net_inputs=lambda inputs: inputs[0])

    order = sorted(range(len(xs)), key=lambda i: len(xs[i]))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng, history = np.random.default_rng(seed), []
    for epoch in range(epochs):
        rng.shuffle(batches)
        losses = []
        for batch in batches:  # an epoch over cached features takes seconds
            x = np.zeros((len(batch), max(len(xs[i]) for i in batch), xs[0].shape[1]), np.float32)
            for k, i in enumerate(batch):
                x[k, : len(xs[i])] = xs[i]
            labels = np.full((len(batch), max(len(ys[i]) for i in batch)), -1, np.int32)
            for k, i in enumerate(batch):
                labels[k, : len(ys[i])] = ys[i]
            lengths = tf.constant([len(xs[i]) for i in batch])
            losses.append(float(step((tf.constant(x), lengths), tf.constant(labels))))
        history.append(round(float(np.mean(losses)), 4))
        print(f"sign head epoch {epoch + 1}/{epochs}: CTC loss {history[-1]}", flush=True)
    return history


def train_sign_head(model_name: str, start: str, out_dir: Path, data_dir: Path, extra_data: list[str] | None = None,
                    extra_share: list[float] | None = None, staves: int = 13000, epochs: int = 6,
                    learning_rate: float = 3e-3, threshold: float = Accidentals.threshold, seed: int = 0) -> Path:
    """Write ``start`` ('pretrained' or a run folder) with a trained sign head, as a run folder that reads with
    every rule (:class:`zoo.decoding.ReadingConfig`, the accidentals' sign ``threshold`` as given)."""
    refuse_existing_run(out_dir)
    folders, shares = omr.extra_sources(extra_data or [], extra_share or [])
    manifest = run_manifest(model_name, start)
    model = zoo.load(model_name, weights=start)
    tf.keras.utils.set_random_seed(seed)
    model.add_sign_head()
    began = time.perf_counter()
    xs, ys = training_features(model, Path(data_dir), folders, shares, staves, seed)
    history = fit(model.signs, xs, ys, epochs, learning_rate, seed)
    seconds = round(time.perf_counter() - began, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.signs.save_weights(str(out_dir / SIGNS_FILE))
    record: dict[str, Any] = {
        "start": paths.portable(start), "data_dir": paths.portable(data_dir), "extra_data": folders,
        "extra_share": shares, "staves": len(xs), "epochs": epochs, "learning_rate": learning_rate,
        "seed": seed, "loss": history, "train_seconds": seconds, "augmentation": AUGMENT}
    entry = {**file_entry(out_dir, SIGNS_FILE), "alphabet": list(printed.ALPHABET)}
    reading = config_lib.replace(ReadingConfig(), "accidentals.threshold", threshold)
    return write_derived_run(model_name, model.keras_model, out_dir, manifest, earlier_stages(start, model_name),
                             "sign_head", record, sign_head=entry, reading=reading.to_dict())
