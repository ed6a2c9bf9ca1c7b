"""Train and evaluate the score-recognition models (CTC) on the staff dataset's TFRecords.

Training stops at a wall-time budget (so models can be compared at equal budget),
at ``max_epochs``, or early when validation SER stops improving; the best
weights by validation SER are kept. Camera-like distortions (and, optionally,
horizontal stretching and loose margins) augment a share of the training images. TensorBoard
logs, history JSON and training curves are written.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import zoo
from zoo import paths
from zoo.datasets import build, tfrecords
from zoo.metrics import ErrorRates
from zoo.models.omr import ScoreRecognizer, output_lengths
from zoo.notation.tokens import parse
from zoo.notation.vocabulary import load_vocabulary
from zoo.preprocessing import image as staff_image
from zoo.preprocessing.distortions import DistortionConfig, distort
from zoo.pretrained import find_manifest, write_manifest
from zoo.training import ctc, plots
from zoo.training.averaging import WeightAverage
from zoo.training.configs import OmrConfig, check_ink, check_mix, check_range

BUCKET_WIDTHS = [256, 384, 512, 640, 768, 1024, 1536, 2048, 4096]


def token_counts(data_dir: Path, split: str = "train") -> Counter:
    counts: Counter = Counter()
    for tokens in tfrecords.make_dataset(data_dir, split, "staff").map(lambda e: e["tokens"]).as_numpy_iterator():
        counts.update(t.decode() for t in tokens)
    return counts


def training_vocabulary(data_dir: Path, counts: Counter | None = None) -> list[str]:
    """The PrIMuS vocabulary, then (sorted) every other token of the training split (``counts``, if given)."""
    vocab = load_vocabulary()
    known = set(vocab)
    return vocab + sorted(t for t in (counts if counts is not None else token_counts(data_dir)) if t not in known)


# the training distortions widened to a phone photo's: each page distortion on half of the distorted staves
TRAINING_PHOTO = dataclasses.replace(DistortionConfig(), max_rotation_deg=5.0, lighting_prob=0.5, texture_prob=0.5)


def make_dataset(data_dir: Path, split: str, vocabulary: list[str], batch_size: int, height: int,
                 augment_probability: float = 0.0, shuffle: int = 0, seed: int = 0,
                 width_scale: Sequence[float] | None = None, width_scale_probability: float = 0.5,
                 margin: Sequence[float] | None = None, margin_probability: float = 0.5,
                 ink: Sequence[int] | None = None, ink_probability: float = 0.5, photo: bool = False
                 ) -> tf.data.Dataset:
    """(inputs {image, width}, labels, label lengths) batches, bucketed by width.

    ``augment_probability``: the share of staves given camera distortions (``photo``: a phone photo's, see
    :data:`TRAINING_PHOTO`). ``width_scale`` [low, high]:
    ``width_scale_probability`` of the staves are stretched horizontally by a factor drawn log-uniformly
    from that range (other engravings' spacing); staves left too narrow for their labels are dropped.
    ``margin`` [low, high]: ``margin_probability`` of the staves get white paper above and below (each side its
    own share of the height, drawn uniformly from that range) before any distortion, like a staff cropped
    loosely from a page and then photographed. ``ink`` [low, high] (whole pixels): ``ink_probability`` of the
    staves get their ink thickened by that many pixels down and, drawn apart, to the right
    (:func:`zoo.preprocessing.image.embolden`), before any distortion, like a bolder engraving.
    """
    scale = check_range("width_scale", width_scale, zero_ok=False)
    loose = check_range("margin", margin, zero_ok=True)
    bold = check_ink(ink)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(vocabulary), tf.range(len(vocabulary), dtype=tf.int64)), -1)
    config = TRAINING_PHOTO if photo else DistortionConfig()

    def prepare(index: tf.Tensor, ex: dict[str, tf.Tensor]):
        paper = staff_image.decode_image(ex["image"])
        seed2 = tf.stack([tf.cast(seed, tf.int64), index])
        if loose is not None:
            coin, top, bottom = tf.unstack(tf.random.stateless_uniform([3], seed2 + 13))
            low, high = loose
            paper = tf.cond(coin < margin_probability,
                            lambda: staff_image.add_margins(paper, low + top * (high - low),
                                                            low + bottom * (high - low)),
                            lambda: paper)
        if bold is not None:
            coin = tf.random.stateless_uniform([], seed2 + 17)
            rows, cols = tf.unstack(tf.random.stateless_uniform([2], seed2 + 19, minval=bold[0], maxval=bold[1] + 1,
                                                                dtype=tf.int32))
            paper = tf.cond(coin < ink_probability, lambda: staff_image.embolden(paper, rows, cols), lambda: paper)
        if augment_probability > 0:
            coin = tf.random.stateless_uniform([], seed2 + 7)
            paper = tf.cond(coin < augment_probability, lambda: distort(paper, seed2, config), lambda: paper)
        staff = staff_image.normalize(paper, height)
        if scale is not None:
            coin, u = tf.unstack(tf.random.stateless_uniform([2], seed2 + 11))
            factor = tf.exp(math.log(scale[0]) + u * (math.log(scale[1]) - math.log(scale[0])))
            staff = tf.cond(coin < width_scale_probability, lambda: staff_image.rescale_width(staff, factor),
                            lambda: staff)
        labels = table.lookup(ex["tokens"])
        return {"image": staff, "width": tf.shape(staff)[1]}, labels

    ds = tfrecords.make_dataset(data_dir, split, "staff", shuffle=shuffle, seed=seed).enumerate()
    return batched_by_width(ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE), batch_size, height)


def usable(inputs: dict[str, tf.Tensor], labels: tf.Tensor) -> tf.Tensor:
    """Whether CTC can learn a staff: only known tokens (ids >= 0), and at least one frame per label (two, in case
    labels repeat)."""
    return tf.logical_and(tf.reduce_all(labels >= 0), output_lengths(inputs["width"]) >= 2 * tf.shape(labels)[0])


def batched_by_width(ds: tf.data.Dataset, batch_size: int, height: int) -> tf.data.Dataset:
    """({image [height, W, 1], width}, labels [L]) pairs → the :func:`usable` ones in batches of similar widths,
    images padded with 0 (no ink) and labels with -1: what :func:`zoo.training.ctc.make_train_step` takes."""
    ds = ds.filter(usable).bucket_by_sequence_length(
        lambda inputs, labels: inputs["width"], BUCKET_WIDTHS, [batch_size] * (len(BUCKET_WIDTHS) + 1),
        padded_shapes=({"image": [height, None, 1], "width": []}, [None]),
        padding_values=({"image": 0.0, "width": 0}, tf.constant(-1, tf.int64)), drop_remainder=False)
    return ds.prefetch(tf.data.AUTOTUNE)


def earlier_stages(warm_start: str | None, model_name: str) -> list[dict[str, Any]]:
    """The training stages behind a warm start from a run folder or the shipped weights ("pretrained"), read
    from its manifest (and its own warm start's, recursively), so that a continued model's manifest tells its
    whole training."""
    stages: list[dict[str, Any]] = []
    if warm_start == "pretrained":
        shipped = find_manifest(model_name)
        warm_start = str(shipped.directory) if shipped else None
    while warm_start and (Path(warm_start) / "manifest.json").is_file():
        training = json.loads((Path(warm_start) / "manifest.json").read_text()).get("training", {})
        if "stages" in training:
            return training["stages"] + stages
        stages.insert(0, {"run": str(warm_start), "train_seconds": training.get("train_seconds"),
                          "images_seen": training.get("images_seen"),
                          "learning_rate": training.get("learning_rate", 1e-3),
                          "schedule": training.get("schedule", training.get("lr_schedule", "constant")),
                          "extra_data": None})
        warm_start = training.get("warm_start")
    return stages


def train_only_layers(net: tf.keras.Model, prefixes: Sequence[str]) -> list[str]:
    """Freeze every layer whose name starts with none of ``prefixes``; return the names left trainable.

    A stage that trains only the recurrent layers and the output (``["bisru", "logits"]``) can learn from a new
    mix of staves without moving the convolutional features every other staff is read with; frozen BatchNorm
    layers also keep their statistics (Keras 2 runs a non-trainable BatchNorm in inference mode).
    """
    prefixes = [prefixes] if isinstance(prefixes, str) else [str(p) for p in prefixes]  # --set train_only=logits
    names = [layer.name for layer in net.layers if layer.weights]
    unmatched = [p for p in prefixes if not any(name.startswith(p) for name in names)]
    if not prefixes or unmatched:
        missing = ", ".join(unmatched) or "(nothing given)"
        raise ValueError(f"train_only {prefixes}: no layer name starts with {missing}; "
                         f"the network's layers with weights are {', '.join(names)}")
    for layer in net.layers:
        layer.trainable = layer.name.startswith(tuple(prefixes))
    return [name for name in names if name.startswith(tuple(prefixes))]


def make_train_step(net: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer):
    """The recognizer's CTC step (:func:`zoo.training.ctc.make_train_step`) on {image, width} inputs."""
    return ctc.make_train_step(net, optimizer, lambda inputs: output_lengths(inputs["width"]))


# ``evaluate(by=...)``: the reference token that puts a staff in a group.
GROUP_KINDS = {"clef": "clef", "key": "keySignature", "time": "timeSignature"}


def opening_group(tokens: list[str], by: str) -> str:
    """The clef, key or time signature token a staff opens with (before its first note, rest or bar line)."""
    kind = GROUP_KINDS[by]
    for token in tokens:
        parsed = parse(token)
        if parsed is not None and parsed.kind == kind:
            return token
        if parsed is None or parsed.kind not in GROUP_KINDS.values():
            break
    return f"no {kind}"


def evaluate(model: ScoreRecognizer, data_dir: Path, split: str, limit: int | None = None, beam: int = 0,
             batch_size: int = 16, by: str | None = None, width_scale: float = 1.0,
             tta: bool = False, margin: float = 0.0) -> dict[str, Any]:
    """SER, sequence error rate and errors by token type on a split (greedy or beam decoding).

    With ``limit``, a fixed random subset (the same every call): files are written in
    piece order, so their first records would all come from one collection. With ``by``
    (clef, key or time), the summary adds the same figures per opening clef, key or time
    signature of the reference, to show which staves a model has not learnt to read. ``width_scale``
    stretches every staff horizontally first: how a model copes with another engraving's spacing.
    ``tta`` reads each staff at several spacings and lets the readings vote (``ScoreRecognizer.recognize_staves``).
    ``margin`` adds that share of each staff's height of white paper above and below first (a loose crop).
    """
    if by is not None and by not in GROUP_KINDS:
        raise ValueError(f"unknown grouping {by!r}; choose from {', '.join(GROUP_KINDS)}")
    rates = ErrorRates()
    groups: dict[str, ErrorRates] = {}
    height = model.config["height"]
    ds = tfrecords.make_dataset(data_dir, split, "staff")
    if limit:
        ds = tfrecords.fixed_subset(ds, limit)

    def staff_of(example: dict[str, tf.Tensor]) -> tf.Tensor:
        paper = staff_image.decode_image(example["image"])
        staff = staff_image.normalize(staff_image.add_margins(paper, margin) if margin else paper, height)
        return staff_image.rescale_width(staff, width_scale) if width_scale != 1.0 else staff

    ds = ds.map(lambda e: (staff_of(e), e["tokens"]))
    staves, refs = [], []

    def flush():
        for result, ref in zip(model.recognize_staves(staves, beam, tta), refs):
            rates.add(ref, result["tokens"])
            if by:
                groups.setdefault(opening_group(ref, by), ErrorRates()).add(ref, result["tokens"])
        staves.clear()
        refs.clear()

    for staff, tokens in ds.as_numpy_iterator():
        staves.append(staff)
        refs.append([t.decode() for t in tokens])
        if len(staves) == batch_size:
            flush()
    if staves:
        flush()
    summary = rates.summary()
    if by:
        fields = ("ser", "sequence_error_rate", "sequences", "reference_tokens", "errors")
        summary[f"by_{by}"] = {name: {key: figures[key] for key in fields}
                               for name, figures in sorted((name, g.summary()) for name, g in groups.items())}
    return summary


def validate(model: ScoreRecognizer, data_dirs: Sequence[Path], limit: int) -> dict[str, Any]:
    """``ser`` (errors over reference tokens) pooled over a fixed subset of ``limit`` validation staves of each
    build, and each build's own SER (``per_build``)."""
    results = [evaluate(model, d, "validation", limit=limit) for d in data_dirs]
    errors, tokens = sum(r["errors"] for r in results), sum(r["reference_tokens"] for r in results)
    return {"ser": errors / max(1, tokens), "per_build": {str(d): r["ser"] for d, r in zip(data_dirs, results)}}


def learning_rate_at(base: float, schedule: str, progress: float, floor: float = 0.02) -> float:
    """Learning rate at ``progress`` (share of the wall-time budget used): constant, or cosine decay to floor·base.

    The decay follows wall time, not steps, because training is budgeted in minutes.
    """
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return base * (floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * min(max(progress, 0.0), 1.0))))
    raise ValueError(f"unknown schedule {schedule!r}; choose constant or cosine")


def extra_sources(folders: Sequence[str | os.PathLike], shares: Sequence[float]) -> tuple[list[str], list[float]]:
    """The extra staff builds and their batch shares (:func:`zoo.training.configs.check_mix`), which must exist."""
    folders, shares = [str(f) for f in folders], [float(x) for x in shares]
    check_mix(folders, shares)
    missing = [f for f in folders if not Path(f).is_dir()]
    if missing:
        raise FileNotFoundError(f"extra_data folder(s) not found: {', '.join(missing)}")
    return folders, shares


def training_mix(data_dir: Path, extras: list[str], shares: list[float], vocabulary: list[str], batch_size: int,
                 height: int, seed: int, **options: Any) -> tf.data.Dataset:
    """Endless shuffled training batches of ``data_dir``, with ``shares`` of them drawn from the ``extras``
    (as :func:`extra_sources` checks them); ``options`` go to :func:`make_dataset` for every source."""
    sources = [make_dataset(Path(folder), "train", vocabulary, batch_size, height, shuffle=4096, seed=seed + i,
                            **options).repeat() for i, folder in enumerate([data_dir, *extras])]
    if not extras:
        return sources[0]
    return tf.data.Dataset.sample_from_datasets(sources, [1 - sum(shares), *shares], seed=seed)


def _one_or_list(values: list[Any]) -> Any:
    """A manifest field as earlier manifests wrote it for one extra source (the value), a list for several."""
    return None if not values else values[0] if len(values) == 1 else values


def train(model_name: str, data_dir: Path, out_dir: Path, config: OmrConfig | None = None,
          warm_start: str | None = None) -> dict[str, Any]:
    """Train ``model_name`` on the staff dataset under a wall-time budget; write weights, vocabulary, manifest.

    ``config`` (:class:`zoo.training.configs.OmrConfig`): ``data.extra_data``, the train splits of other staff
    builds (e.g. the ``staff-incipits`` recipe), supply ``data.extra_share`` of the batches each; validation
    stays on ``data_dir``. ``train.ema_decay`` > 0 validates and saves an exponential moving average of the
    weights (:class:`zoo.training.averaging.WeightAverage`, driven by hand here because this loop is not ``fit``).
    ``augment.width_scale`` [low, high] stretches ``width_scale_probability`` of the training staves
    horizontally, ``augment.margin`` gives some loose white margins and ``augment.ink`` thickens the ink of some
    by whole pixels (:func:`make_dataset`). ``train.train_only`` (layer name prefixes) trains those layers and
    freezes the rest (:func:`train_only_layers`). ``warm_start``: 'pretrained' or a run folder to start from.
    """
    config = (config or OmrConfig()).check()
    run, aug = config.train, config.augment
    minutes, max_epochs, steps_per_epoch, batch_size = run.minutes, run.max_epochs, run.steps_per_epoch, run.batch_size
    learning_rate, schedule, patience, val_samples = run.learning_rate, run.schedule, run.patience, run.val_samples
    ema_decay, seed, verbose = run.ema_decay, run.seed, run.verbose
    train_only: list[str] | None = list(run.train_only) or None
    overrides = config.model.overrides()
    tf.keras.utils.set_random_seed(seed)
    augmentations: dict[str, Any] = {}
    if aug.width_scale:
        augmentations.update(width_scale=list(aug.width_scale), width_scale_probability=aug.width_scale_probability)
    if aug.margin:
        augmentations.update(margin=list(aug.margin), margin_probability=aug.margin_probability)
    if aug.ink:
        augmentations.update(ink=list(aug.ink), ink_probability=aug.ink_probability)
    if aug.photo:
        augmentations.update(photo=True)
    augment_probability = aug.distort
    out_dir.mkdir(parents=True, exist_ok=True)
    vocabulary = training_vocabulary(data_dir)
    model = zoo.load(model_name, weights=warm_start, **overrides) if warm_start else None
    if model is None:
        model = zoo.create_model(model_name, vocabulary=vocabulary, **overrides)
    elif model.vocabulary != vocabulary:
        raise ValueError("warm start needs the same vocabulary as the training data")
    net = model.keras_model
    if train_only:
        train_only = train_only_layers(net, train_only)
    height = model.config["height"]
    optimizer = tf.keras.optimizers.Adam(learning_rate, clipnorm=5.0)
    extras, shares = extra_sources(list(config.data.extra_data), list(config.data.extra_share))
    train_ds = training_mix(data_dir, extras, shares, vocabulary, batch_size, height, seed,
                            augment_probability=augment_probability, **augmentations)

    train_step = make_train_step(net, optimizer)
    average = WeightAverage(ema_decay) if ema_decay else None
    if average:
        average.set_model(net)
        average.on_train_begin()
    writer = tf.summary.create_file_writer(str(out_dir / "tensorboard"))
    weights = out_dir / f"{model_name}.weights.h5"
    history: dict[str, list[float]] = {"loss": [], "val_ser": [], "seconds": []}
    best, bad_epochs, start, images = float("inf"), 0, time.perf_counter(), 0
    iterator = iter(train_ds)
    for epoch in range(1, max_epochs + 1):
        if average:
            average.on_epoch_begin(epoch)  # back to the raw weights after the last validation
        bar = tf.keras.utils.Progbar(steps_per_epoch, verbose=verbose, stateful_metrics=["loss"])
        losses = []
        for step in range(steps_per_epoch):
            optimizer.learning_rate.assign(
                learning_rate_at(learning_rate, schedule, (time.perf_counter() - start) / (minutes * 60)))
            inputs, labels = next(iterator)
            losses.append(float(train_step(inputs, labels)))
            if average:
                average.on_train_batch_end(step)
            images += int(tf.shape(labels)[0])
            bar.update(step + 1, [("loss", float(np.mean(losses[-50:])))])
            if time.perf_counter() - start > minutes * 60:
                break
        if average:
            average.on_test_begin()  # validate (and save) the average
        val = validate(model, [data_dir, *(map(Path, extras) if config.data.validate_on_extra else ())], val_samples)
        elapsed = time.perf_counter() - start
        history["loss"].append(float(np.mean(losses)))
        history["val_ser"].append(val["ser"])
        history["seconds"].append(round(elapsed, 1))
        with writer.as_default():
            tf.summary.scalar("loss", history["loss"][-1], step=epoch)
            tf.summary.scalar("val_ser", val["ser"], step=epoch)
        per_build = "".join(f"  {Path(d).name} {ser:.4f}" for d, ser in val["per_build"].items()) \
            if len(val["per_build"]) > 1 else ""
        print(f"epoch {epoch}: loss {history['loss'][-1]:.4f}  val SER {val['ser']:.4f}  ({elapsed / 60:.1f} min)"
              f"{per_build}", flush=True)
        if val["ser"] < best:
            best, bad_epochs = val["ser"], 0
            net.save_weights(str(weights))
        else:
            bad_epochs += 1
        if bad_epochs >= patience or elapsed > minutes * 60:
            break
    train_seconds = time.perf_counter() - start
    extra_dirs = _one_or_list([paths.portable(f) for f in extras])
    stages = earlier_stages(warm_start, model_name) + [{
        "run": str(out_dir), "train_seconds": round(train_seconds, 1), "images_seen": images,
        "learning_rate": learning_rate, "schedule": schedule, "extra_data": extra_dirs,
        **({"ema_decay": ema_decay} if ema_decay else {}), **augmentations,
        **({"validate_on_extra": True} if config.data.validate_on_extra else {}),
        **({"train_only": train_only} if train_only else {})}]
    net.load_weights(str(weights))
    (out_dir / "vocabulary.txt").write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    (out_dir / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    plots.training_curves({"loss": history["loss"], "val_ser": history["val_ser"]}, out_dir / "training_curves.png",
                          model_name)
    config = {k: v for k, v in model.config.items()}
    write_manifest(
        out_dir, model_name, weights.name, config=config, vocabulary_file="vocabulary.txt",
        input_spec=zoo.get_spec(model_name).input_spec,
        preprocessing={"function": "zoo.preprocessing.image.png_to_staff", "height": height,
                       "ink": "white on black (1 - gray)", "time_reduction": 4},
        training_data={"dataset": "staff", "recipe": "data/recipes/staff.json", "data_dir": paths.portable(data_dir),
                       **({"extra_data_dir": extra_dirs,
                           "extra_share": _one_or_list(shares),
                           "extra_build_config": _one_or_list([build.read_build_config(Path(f)) for f in extras])}
                          if extras else {})},
        metrics={"validation_ser": round(best, 5)},
        training={"train_seconds": round(train_seconds, 1), "epochs": len(history["loss"]), "images_seen": images,
                  "images_per_second": round(images / train_seconds, 1), "batch_size": batch_size,
                  "budget_minutes": minutes, "learning_rate": learning_rate,
                  "schedule": schedule, "warm_start": warm_start,
                  "augment_probability": augment_probability, "ema_decay": ema_decay, **augmentations,
                  **({"train_only": train_only} if train_only else {}), "seed": seed,
                  "stages": stages,
                  "total_train_seconds": round(sum(st["train_seconds"] for st in stages), 1)},
    )
    return {"model": model_name, "best_val_ser": best, "train_seconds": train_seconds, "images_seen": images,
            "epochs": len(history["loss"]), "out_dir": str(out_dir)}
