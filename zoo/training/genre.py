"""Train and evaluate ``genre-cnn`` on the genre dataset's TFRecords.

Spectrograms come from ``zoo.preprocessing.audio`` (the serving front end), are
computed once per split and kept in memory; augmentation works on them:
gain, a random 8.9-second crop (the network pools globally, so it
still sees whole 10-second clips at test time) and SpecAugment-style masks.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import zoo
from zoo.datasets import build, tfrecords
from zoo.models.genre_cnn import GENRES
from zoo.preprocessing import audio
from zoo.pretrained import write_manifest
from zoo.training import plots
from zoo.training.averaging import WeightAverage
from zoo.training.configs import GenreConfig

CROP_FRAMES = 384


@dataclass
class Split:
    log_mel: np.ndarray  # [N, frames, mels] float32
    labels: np.ndarray  # [N] int
    piece_ids: list[str]
    sample_ids: list[str]


def load_split(data_dir: Path, split: str, labels: tuple[str, ...] = GENRES) -> Split:
    """Decode every clip of a split through the serving front end."""
    index = {g: i for i, g in enumerate(labels)}

    def features(ex: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {"log_mel": audio.audio_bytes_to_log_mel(ex["audio"], audio.CLIP_SECONDS, ("wav",)),
                "genre": ex["genre"], "piece_id": ex["piece_id"], "sample_id": ex["sample_id"]}

    ds = tfrecords.make_dataset(data_dir, split, "genre").map(features, num_parallel_calls=tf.data.AUTOTUNE)
    mels, ys, pieces, samples = [], [], [], []
    for ex in ds.batch(64).as_numpy_iterator():
        mels.append(ex["log_mel"])
        ys.extend(index[g.decode()] for g in ex["genre"])
        pieces.extend(p.decode() for p in ex["piece_id"])
        samples.extend(s.decode() for s in ex["sample_id"])
    return Split(np.concatenate(mels), np.asarray(ys, np.int64), pieces, samples)


def augment(log_mel: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """One training view of a [frames, mels] spectrogram."""
    frames, mels = tf.shape(log_mel)[0], tf.shape(log_mel)[1]
    x = log_mel + tf.random.uniform([], -1.5, 1.5)  # gain: ±6.5 dB in log power
    # No tempo stretch here: the dataset already renders every piece at ×0.85–1.15. A ±10 % stretch on
    # top made no difference (validation 0.948 with it, 0.952 without, on the default build).
    x = tf.image.random_crop(x, [tf.minimum(CROP_FRAMES, frames), mels])
    floor = tf.reduce_mean(x)
    f0, fw = tf.random.uniform([], 0, 112, tf.int32), tf.random.uniform([], 0, 16, tf.int32)
    t0, tw = tf.random.uniform([], 0, CROP_FRAMES - 40, tf.int32), tf.random.uniform([], 0, 40, tf.int32)
    fmask = (tf.range(mels) >= f0) & (tf.range(mels) < f0 + fw)
    tmask = (tf.range(tf.shape(x)[0]) >= t0) & (tf.range(tf.shape(x)[0]) < t0 + tw)
    x = tf.where(fmask[None, :] | tmask[:, None], floor, x)
    return tf.ensure_shape(x, [None, audio.N_MELS]), label


def mixup(alpha: float) -> Any:
    """Mixup (Zhang et al. 2018) on a batch: a Beta(alpha, alpha) blend of each clip with another one and of their
    one-hot labels, so the network cannot memorise single clips of the few thousand it has."""

    def blend(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        a, b = tf.random.gamma([], alpha), tf.random.gamma([], alpha)
        lam = tf.maximum(a / (a + b), b / (a + b))  # the original clip keeps the larger share
        other = tf.random.shuffle(tf.range(tf.shape(x)[0]))
        return lam * x + (1 - lam) * tf.gather(x, other), lam * y + (1 - lam) * tf.gather(y, other)

    return blend


def accuracies(scores: np.ndarray, labels: np.ndarray, piece_ids: list[str]) -> dict[str, Any]:
    """Clip accuracy, and piece accuracy with a piece's prediction = the mean of its clips' scores."""
    by_piece: dict[str, list[int]] = defaultdict(list)
    for i, pid in enumerate(piece_ids):
        by_piece[pid].append(i)
    piece_true = np.array([labels[ix[0]] for ix in by_piece.values()])
    piece_pred = np.array([scores[ix].mean(0).argmax() for ix in by_piece.values()])
    return {"clip_accuracy": float((scores.argmax(-1) == labels).mean()), "clips": int(len(labels)),
            "piece_accuracy": float((piece_pred == piece_true).mean()), "pieces": len(by_piece)}


def evaluate(model: tf.keras.Model, split: Split, labels: tuple[str, ...] = GENRES) -> dict[str, Any]:
    """:func:`scored` for the model's predictions on a split."""
    scores = model.predict(split.log_mel, batch_size=32, verbose=0)
    return scored(scores, split, labels)


def scored(scores: np.ndarray, split: Split, labels: tuple[str, ...] = GENRES) -> dict[str, Any]:
    """:func:`accuracies` of class scores [N, classes] on a split, the clip confusion matrix and the misread clips."""
    predicted = scores.argmax(-1)
    confusion = np.zeros((len(labels), len(labels)), np.int64)
    np.add.at(confusion, (split.labels, predicted), 1)
    errors = [{"clip": split.sample_ids[i], "true": labels[split.labels[i]], "predicted": labels[predicted[i]],
               "score": round(float(scores[i, predicted[i]]), 3)} for i in np.flatnonzero(predicted != split.labels)]
    return {**accuracies(scores, split.labels, split.piece_ids), "confusion": confusion.tolist(),
            "labels": list(labels), "errors": errors}


def train(data_dir: Path, out_dir: Path, config: GenreConfig | None = None,
          warm_start: str | None = None) -> dict[str, Any]:
    """Fit genre-cnn on train, select on validation, report on test; write weights, manifest and plots.

    ``config`` (:class:`zoo.training.configs.GenreConfig`): ``train.mixup_alpha`` > 0 trains on mixup batches
    (soft labels); 0 keeps plain clips. A warm start wants a ``train.learning_rate`` well below the 1e-3 a fresh
    network starts at, or the first epochs undo what it knew. ``train.schedule``: "plateau" halves the rate when
    validation loss stalls; "cosine" decays it to 0 over the epochs (after one warm-up epoch), so the last epochs
    settle. ``train.ema_decay`` > 0 validates and saves an exponential moving average of the weights
    (:class:`zoo.training.averaging.WeightAverage`).
    """
    config = (config or GenreConfig()).check()
    run = config.train
    epochs, batch_size, patience, seed, verbose = run.epochs, run.batch_size, run.patience, run.seed, run.verbose
    mixup_alpha, learning_rate, schedule, ema_decay = run.mixup_alpha, run.learning_rate, run.schedule, run.ema_decay
    overrides = config.model.overrides()
    tf.keras.utils.set_random_seed(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train_split, val_split = load_split(data_dir, "train"), load_split(data_dir, "validation")
    prep_seconds = time.perf_counter() - t0
    model = (zoo.load("genre-cnn", weights=warm_start, **overrides) if warm_start
             else zoo.create_model("genre-cnn", **overrides))
    net = model.keras_model
    steps_per_epoch = -(-len(train_split.labels) // batch_size)
    rate: Any = learning_rate
    if schedule == "cosine":  # warm-up over the first epoch (none in a 1-epoch run), then decay to 0
        warmup = steps_per_epoch if epochs > 1 else 0
        rate = tf.keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(1, epochs * steps_per_epoch - warmup), warmup_target=learning_rate,
            warmup_steps=warmup)
    net.compile(optimizer=tf.keras.optimizers.Adam(rate), loss="categorical_crossentropy", metrics=["accuracy"])
    one_hot = np.eye(len(GENRES), dtype=np.float32)
    train_ds = (tf.data.Dataset.from_tensor_slices((train_split.log_mel, one_hot[train_split.labels]))
                .shuffle(len(train_split.labels), seed=seed).map(augment, num_parallel_calls=tf.data.AUTOTUNE)
                .batch(batch_size))
    if mixup_alpha > 0:
        train_ds = train_ds.map(mixup(mixup_alpha), num_parallel_calls=tf.data.AUTOTUNE)
    train_ds = train_ds.prefetch(tf.data.AUTOTUNE)
    val_ds = tf.data.Dataset.from_tensor_slices((val_split.log_mel, one_hot[val_split.labels])).batch(64)
    weights = out_dir / "genre-cnn.weights.h5"
    callbacks = [WeightAverage(ema_decay)] if ema_decay else []
    callbacks += [
        tf.keras.callbacks.ModelCheckpoint(str(weights), monitor="val_accuracy", save_best_only=True,
                                           save_weights_only=True),
        tf.keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience, restore_best_weights=True),
    ]
    if schedule == "plateau":  # both put the rate in the epoch's logs, before CSVLogger fixes its columns
        callbacks.append(tf.keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3))
    else:
        callbacks.append(tf.keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: logs.update(lr=float(rate(net.optimizer.iterations)))))
    callbacks.append(tf.keras.callbacks.CSVLogger(str(out_dir / "history.csv")))
    t1 = time.perf_counter()
    # genres may differ in size (recipe equal_genres=false): weight classes to count equally
    counts = np.bincount(train_split.labels, minlength=len(GENRES))
    class_weight = {i: float(len(train_split.labels) / (len(GENRES) * c)) if c else 1.0 for i, c in enumerate(counts)}
    history = net.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks, verbose=verbose,
                      class_weight=class_weight)
    train_seconds = time.perf_counter() - t1
    net.load_weights(str(weights))
    test_split = load_split(data_dir, "test")
    results = {"validation": evaluate(net, val_split), "test": evaluate(net, test_split)}
    plots.training_curves(history.history, out_dir / "training_curves.png", "genre-cnn")
    plots.confusion_matrix(np.array(results["test"]["confusion"]), GENRES, out_dir / "confusion_test.png",
                           f"genre-cnn, test clips (acc {results['test']['clip_accuracy']:.3f})")
    report = json.loads((data_dir / "build_report.json").read_text()) if (data_dir / "build_report.json").exists() \
        else {}
    write_manifest(
        out_dir, "genre-cnn", weights.name,
        config=model.config, labels=list(GENRES), input_spec=zoo.get_spec("genre-cnn").input_spec,
        preprocessing={"front_end": "zoo.preprocessing.audio.audio_bytes_to_log_mel", "sample_rate": audio.SAMPLE_RATE,
                       "n_fft": audio.N_FFT, "hop": audio.HOP, "n_mels": audio.N_MELS, "fmin": audio.FMIN,
                       "fmax": audio.FMAX, "log": f"ln(mel power + {audio.LOG_OFFSET:g})",
                       "clip_seconds": audio.CLIP_SECONDS},
        training_data={"dataset": "genre",
                       "build_config": build.read_build_config(data_dir, ("description", "instrument_pool")),
                       "clips": {s: report.get("tfrecords", {}).get(s) for s in tfrecords.SPLITS},
                       "pieces_per_split": report.get("pieces_per_split")},
        metrics={"test_clip_accuracy": round(results["test"]["clip_accuracy"], 4),
                 "test_piece_accuracy": round(results["test"]["piece_accuracy"], 4),
                 "validation_clip_accuracy": round(results["validation"]["clip_accuracy"], 4)},
        training={"epochs_run": len(history.history["loss"]), "batch_size": batch_size,
                  "train_seconds": round(train_seconds, 1), "spectrogram_seconds": round(prep_seconds, 1),
                  "warm_start": warm_start, "seed": seed, "mixup_alpha": mixup_alpha,
                  "learning_rate": learning_rate, "schedule": schedule, "ema_decay": ema_decay},
    )
    (out_dir / "evaluation.json").write_text(json.dumps(results, indent=2) + "\n")
    return {"results": results, "train_seconds": train_seconds, "epochs": len(history.history["loss"]),
            "out_dir": str(out_dir)}
