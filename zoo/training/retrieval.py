"""Train and evaluate the retrieval models on the pairs dataset (decision record 0020).

Two stages, as ``scorezoo recipe run retrieval`` runs them:

1. ``retrieval-dual`` from scratch: CNN trunks, FC encoders and the shared common layer, end to end.
2. ``retrieval-gcn`` with ``train.init`` = that folder: its trunks are frozen, so every snippet's raw features are
   computed once; the reference bank is a sample of training snippets; the graph and FC encoders and the shared
   layers train on raw features (minutes, not an hour).

Network inputs come from :mod:`zoo.preprocessing.snippets` (what the library and the served model use) and are
cached per split beside the TFRecords (``inputs/<split>-<audio>.npz``), since every stage and the benchmark read
the same ones.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import zoo
from zoo import config as config_lib
from zoo.datasets import build, tfrecords
from zoo.metrics import retrieval_ranks, retrieval_summary
from zoo.models.retrieval import MODALITIES, RetrievalModel, bank_path, pitch_class_index
from zoo.preprocessing import snippets
from zoo.pretrained import Manifest, file_entry, write_manifest
from zoo.training import plots
from zoo.training.configs import RetrievalConfig

INPUTS_DIR = "inputs"
TEST_CANDIDATES = 2000  # MSMD's protocol


@dataclass
class Pairs:
    """One split's network inputs: ``sheet`` [N, 80, 100, 1] and ``audio`` [N, 83, 128] as float16."""
    sheet: np.ndarray
    audio: np.ndarray
    pitch: np.ndarray
    sample_ids: list[str]
    piece_ids: list[str]
    segments: list[str]
    onsets: np.ndarray
    xs: np.ndarray

    def __len__(self) -> int:
        return len(self.pitch)

    def subset(self, index: np.ndarray) -> Pairs:
        pick = lambda seq: [seq[i] for i in index]  # noqa: E731
        return Pairs(self.sheet[index], self.audio[index], self.pitch[index], pick(self.sample_ids),
                     pick(self.piece_ids), pick(self.segments), self.onsets[index], self.xs[index])


def load_pairs(data_dir: Path, split: str, audio_key: str = "audio") -> Pairs:
    """A split's inputs, decoded once through the shared preprocessing and then read from the cache."""
    cache = data_dir / INPUTS_DIR / f"{split}-{audio_key}.npz"
    records = tfrecords.files(data_dir, split, "pairs")
    if cache.is_file() and cache.stat().st_mtime >= max(Path(f).stat().st_mtime for f in records):
        with np.load(cache) as d:
            return Pairs(d["sheet"], d["audio"], d["pitch"], list(d["sample_ids"]), list(d["piece_ids"]),
                         list(d["segments"]), d["onsets"], d["xs"])

    def features(ex: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {"sheet": tf.cast(snippets.snippet_bytes_to_input(ex["snippet"]), tf.float16),
                "audio": tf.cast(snippets.audio_bytes_to_input(ex[audio_key], ("wav",)), tf.float16),
                **{k: ex[k] for k in ("pitch", "sample_id", "piece_id", "segment", "onset_seconds", "x")}}

    ds = tfrecords.make_dataset(data_dir, split, "pairs").map(features, num_parallel_calls=tf.data.AUTOTUNE)
    parts: dict[str, list[Any]] = {k: [] for k in ("sheet", "audio", "pitch", "sample_id", "piece_id", "segment",
                                                   "onset_seconds", "x")}
    for batch in ds.batch(256).as_numpy_iterator():
        for k in parts:
            parts[k].append(batch[k])
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    text = {k: [s.decode() for s in cat[k]] for k in ("sample_id", "piece_id", "segment")}
    pairs = Pairs(cat["sheet"], cat["audio"], cat["pitch"], text["sample_id"], text["piece_id"], text["segment"],
                  cat["onset_seconds"], cat["x"])
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".partial.npz")
    np.savez(partial, sheet=pairs.sheet, audio=pairs.audio, pitch=pairs.pitch, sample_ids=text["sample_id"],
             piece_ids=text["piece_id"], segments=text["segment"], onsets=pairs.onsets, xs=pairs.xs)
    partial.replace(cache)
    return pairs


def candidates(pairs: Pairs, count: int, seed: int = 0) -> Pairs:
    """A fixed random ``count`` of a split's pairs (MSMD's protocol: 2,000 candidates), the same in every run."""
    if len(pairs) <= count:
        return pairs
    return pairs.subset(np.sort(np.random.default_rng(seed).choice(len(pairs), count, replace=False)))


# ------------------------------------------------------------------------------------------------------- losses


def losses(emb: dict[str, tf.Tensor], logits: dict[str, tf.Tensor], labels: tf.Tensor,
           config: RetrievalConfig) -> dict[str, tf.Tensor]:
    """The seed's label and modality-invariance losses, plus the symmetric InfoNCE ranking term."""
    run = config.train
    n = tf.shape(labels)[0]
    sims = tf.linalg.matmul(emb["audio"], emb["sheet"], transpose_b=True) / run.temperature
    targets = tf.range(n)
    ce = tf.keras.losses.sparse_categorical_crossentropy
    ranking = 0.5 * (tf.reduce_mean(ce(targets, sims, from_logits=True))
                     + tf.reduce_mean(ce(targets, tf.transpose(sims), from_logits=True)))
    label = 0.5 * sum(tf.reduce_mean(ce(labels, logits[m], from_logits=True)) for m in MODALITIES)
    invariance = tf.reduce_mean(tf.reduce_sum(tf.square(emb["audio"] - emb["sheet"]), -1))
    total = run.ranking_weight * ranking + run.label_weight * label + run.invariance_weight * invariance
    return {"loss": total, "ranking": ranking, "label": label, "invariance": invariance}


def _shifted(x: tf.Tensor, shift: int, axis: int, fill: float) -> tf.Tensor:
    """``x`` moved by up to ``shift`` steps along ``axis`` (padding with ``fill``), one draw per example."""
    if shift <= 0:
        return x
    size = x.shape[axis]
    pad = [[0, 0]] * len(x.shape)
    pad[axis] = [shift, shift]
    padded = tf.pad(x, pad, constant_values=fill)
    start = tf.random.uniform([], 0, 2 * shift + 1, tf.int32)
    return tf.gather(padded, tf.range(size) + start, axis=axis)


def augment(sheet: tf.Tensor, audio_in: tf.Tensor, label: tf.Tensor, shift: int) -> tuple[tf.Tensor, ...]:
    """A training view: the snippet moved a few pixels either way, the excerpt a few frames and a gain, so that
    search windows, which are not centred on onsets, still meet embeddings they were trained near."""
    sheet = _shifted(_shifted(tf.cast(sheet, tf.float32), shift, 1, 0.0), shift // 2, 0, 0.0)
    audio_in = tf.cast(audio_in, tf.float32)
    audio_in = _shifted(audio_in, shift, 0, float(np.log(1e-6))) + tf.random.uniform([], -1.0, 1.0)
    return sheet, audio_in, label


# ------------------------------------------------------------------------------------------------------ training


def _copy_into(target: RetrievalModel, source: RetrievalModel) -> None:
    """The trunks, FC encoders and shared layers of a trained model into another (the GCN layers stay new)."""
    for m in MODALITIES:
        target.keras_model.trunks[m].set_weights(source.keras_model.trunks[m].get_weights())
        target.keras_model.encoders[m].fc.set_weights(source.keras_model.encoders[m].fc.get_weights())
    target.keras_model.common.set_weights(source.keras_model.common.get_weights())
    target.keras_model.classifier.set_weights(source.keras_model.classifier.get_weights())


def trunk_outputs(model: RetrievalModel, modality: str, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Raw features [N, F] of network inputs (inference mode), ``batch_size`` at a time."""
    return np.concatenate([model.raw_features(modality, tf.cast(inputs[i:i + batch_size], tf.float32)).numpy()
                           for i in range(0, len(inputs), batch_size)])


def raw_features(model: RetrievalModel, pairs: Pairs) -> dict[str, np.ndarray]:
    """Trunk outputs of every pair, per modality."""
    return {m: trunk_outputs(model, m, getattr(pairs, m)) for m in MODALITIES}


def embed_pairs(model: RetrievalModel, pairs: Pairs | None = None, raw: dict[str, np.ndarray] | None = None,
                transductive: bool = False) -> dict[str, np.ndarray]:
    """Embeddings of both modalities of ``pairs`` (or of their precomputed raw features)."""
    raw = raw if raw is not None else raw_features(model, pairs)
    if transductive:
        return {m: model.encode_transductive(m, tf.constant(raw[m])).numpy() for m in MODALITIES}
    out = {}
    for m in MODALITIES:
        chunks = [tf.math.l2_normalize(model.encode(m, tf.constant(raw[m][i:i + 256])), -1).numpy()
                  for i in range(0, len(raw[m]), 256)]
        out[m] = np.concatenate(chunks)
    return out


def evaluate(emb: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Both directions: audio queries against the sheet gallery, and sheet queries against the audio gallery."""
    return {"audio_to_sheet": retrieval_summary(retrieval_ranks(emb["audio"], emb["sheet"])),
            "sheet_to_audio": retrieval_summary(retrieval_ranks(emb["sheet"], emb["audio"]))}


def mean_mrr(result: dict[str, dict[str, float]]) -> float:
    return 0.5 * (result["audio_to_sheet"]["MRR"] + result["sheet_to_audio"]["MRR"])


def train_step(model: RetrievalModel, optimizer: tf.keras.optimizers.Optimizer, config: RetrievalConfig,
               raw_inputs: bool) -> Any:
    """One step on a batch ``(sheet, audio, label, bank_rows)`` → the loss parts (:func:`losses`).

    ``raw_inputs``: the batch holds trunk outputs (frozen trunks, computed once) rather than network inputs. Frozen
    trunks given network inputs run in inference mode; ``bank_rows`` is each pair's own row in the reference bank
    (-1 for none), which its graph may not use."""
    net = model.keras_model

    @tf.function
    def step(sheet: tf.Tensor, audio_in: tf.Tensor, y: tf.Tensor, rows: tf.Tensor) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            emb, logits = {}, {}
            for m, x in (("sheet", sheet), ("audio", audio_in)):
                raw = x if raw_inputs else net.trunks[m](x, training=net.trunks[m].trainable)
                common = model.encode(m, raw, exclude=rows, training=True)
                emb[m], logits[m] = tf.math.l2_normalize(common, -1), net.classifier(common)
            parts = losses(emb, logits, y, config)
        variables = net.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(parts["loss"], variables), variables))
        return parts

    return step


def train(model_name: str, data_dir: Path, out_dir: Path, config: RetrievalConfig | None = None,
          warm_start: str | None = None) -> dict[str, Any]:
    """Train ``model_name`` (see the module docstring for the two stages); select on validation MRR at
    ``val_candidates``; report on the test split's 2,000 candidates; write weights, bank, manifest and plots."""
    config = (config or RetrievalConfig()).check()
    if warm_start:
        raise ValueError("retrieval models do not warm-start; set train.init to a trained folder to reuse its "
                         "trunks (frozen)")
    run = config.train
    tf.keras.utils.set_random_seed(run.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    part_audio = "audio" if run.audio == "both" else run.audio  # what validation and test pair snippets with
    train_pairs = load_pairs(data_dir, "train", part_audio)
    ensemble = load_pairs(data_dir, "train", "audio_ensemble").audio if run.audio == "both" else None
    val_pairs = candidates(load_pairs(data_dir, "validation", part_audio), run.val_candidates, run.seed)
    prep_seconds = time.perf_counter() - t0
    model: RetrievalModel = zoo.create_model(model_name, **config.model.overrides())
    frozen = bool(run.init)
    if frozen:
        _copy_into(model, zoo.load(Manifest.read(Path(run.init)).name, weights=run.init))
        for m in MODALITIES:
            model.keras_model.trunks[m].trainable = False
    say = print if run.verbose else (lambda *a, **k: None)
    say(f"{model_name}: {len(train_pairs):,} training pairs, {len(val_pairs):,} validation candidates "
        f"({prep_seconds:.0f} s to load); {'frozen trunks' if frozen else 'end to end'}", flush=True)

    labels = pitch_class_index(train_pairs.pitch).astype(np.int32)
    bank_rows = np.full(len(train_pairs), -1, np.int32)
    if frozen:
        train_raw = raw_features(model, train_pairs)
        val_raw = raw_features(model, val_pairs)
        if model.uses_graph:
            chosen = np.sort(np.random.default_rng(run.seed).choice(len(train_pairs),
                                                                    min(run.bank_size, len(train_pairs)), False))
            model.set_bank({m: train_raw[m][chosen] for m in MODALITIES})
            bank_rows[chosen] = np.arange(len(chosen), dtype=np.int32)
        if ensemble is None:
            ds = tf.data.Dataset.from_tensor_slices((train_raw["sheet"], train_raw["audio"], labels, bank_rows))
        else:
            heard = trunk_outputs(model, "audio", ensemble)
            ds = tf.data.Dataset.from_tensor_slices((train_raw["sheet"], train_raw["audio"], heard, labels, bank_rows))
            ds = ds.map(lambda s, a, e, y, b: (s, tf.where(tf.random.uniform([]) < 0.5, a, e), y, b))
    elif ensemble is not None:  # each pair hears its part alone or the whole ensemble, at random
        ds = tf.data.Dataset.from_tensor_slices((train_pairs.sheet, train_pairs.audio, ensemble, labels, bank_rows))
        ds = ds.map(lambda s, a, e, y, b: (*augment(s, tf.where(tf.random.uniform([]) < 0.5, a, e), y, run.shift), b),
                    num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = tf.data.Dataset.from_tensor_slices((train_pairs.sheet, train_pairs.audio, labels, bank_rows))
        ds = ds.map(lambda s, a, y, b: (*augment(s, a, y, run.shift), b), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.shuffle(min(len(train_pairs), 20000), seed=run.seed).batch(run.batch_size, drop_remainder=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    steps_per_epoch = len(train_pairs) // run.batch_size
    optimizer = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(
        run.learning_rate, decay_steps=max(1, run.max_epochs * steps_per_epoch), alpha=0.05))
    net = model.keras_model
    step = train_step(model, optimizer, config, raw_inputs=frozen)

    weights = out_dir / f"{model_name}.weights.h5"
    history: dict[str, list[float]] = {k: [] for k in ("loss", "ranking", "label", "invariance", "val_mrr",
                                                        "val_r1_audio_to_sheet", "val_r1_sheet_to_audio")}
    best, best_epoch, waited, t1 = -1.0, 0, 0, time.perf_counter()
    for epoch in range(1, run.max_epochs + 1):
        sums: dict[str, float] = {}
        steps = 0
        for batch in ds:
            steps += 1
            for k, v in step(*batch).items():
                sums[k] = sums.get(k, 0.0) + float(v)
        for k in ("loss", "ranking", "label", "invariance"):
            history[k].append(sums[k] / max(1, steps))
        result = evaluate(embed_pairs(model, raw=val_raw) if frozen else embed_pairs(model, val_pairs))
        score = mean_mrr(result)
        history["val_mrr"].append(score)
        history["val_r1_audio_to_sheet"].append(result["audio_to_sheet"]["R@1"])
        history["val_r1_sheet_to_audio"].append(result["sheet_to_audio"]["R@1"])
        minutes = (time.perf_counter() - t1) / 60
        say(f"epoch {epoch}: loss {history['loss'][-1]:.3f} (rank {history['ranking'][-1]:.3f}, label "
            f"{history['label'][-1]:.3f}, inv {history['invariance'][-1]:.3f}); validation MRR {score:.4f}, R@1 "
            f"a→s {result['audio_to_sheet']['R@1']:.3f} s→a {result['sheet_to_audio']['R@1']:.3f}; "
            f"{minutes:.1f} min", flush=True)
        if score > best:
            best, best_epoch, waited = score, epoch, 0
            net.save_weights(str(weights))
        else:
            waited += 1
        if waited >= run.patience or minutes * (epoch + 1) / epoch > run.minutes:
            break
    train_seconds = time.perf_counter() - t1
    net.load_weights(str(weights))
    extra: dict[str, Any] = {}
    if model.uses_graph:
        np.savez(bank_path(out_dir), **{m: model.bank[m].numpy().astype(np.float16) for m in MODALITIES})
        model.set_bank({m: model.bank[m].numpy().astype(np.float16) for m in MODALITIES})  # as shipped
        extra["bank"] = {**file_entry(out_dir, bank_path(out_dir).name), "items": int(model.bank["sheet"].shape[0]),
                         "raw_dim": int(model.config["raw_dim"])}
    test_pairs = candidates(load_pairs(data_dir, "test", part_audio), TEST_CANDIDATES, 0)
    results = {"validation": evaluate(embed_pairs(model, val_pairs)), "test": evaluate(embed_pairs(model, test_pairs))}
    if run.audio == "both":
        results["test_ensemble_audio"] = evaluate(embed_pairs(
            model, candidates(load_pairs(data_dir, "test", "audio_ensemble"), TEST_CANDIDATES, 0)))
    if model.uses_graph:
        results["test_transductive"] = evaluate(embed_pairs(model, test_pairs, transductive=True))
    plots.training_curves({k: v for k, v in history.items() if v}, out_dir / "training_curves.png", model_name)
    (out_dir / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    (out_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    report = json.loads((data_dir / "build_report.json").read_text()) if (data_dir / "build_report.json").exists() \
        else {}
    write_manifest(
        out_dir, model_name, weights.name, config=model.config, input_spec=zoo.get_spec(model_name).input_spec,
        preprocessing={"sheet": "zoo.preprocessing.snippets.snippet_bytes_to_input",
                       "audio": "zoo.preprocessing.snippets.audio_bytes_to_input",
                       "staff_height_px": snippets.STAFF_HEIGHT_PX,
                       "snippet": [snippets.SNIPPET_HEIGHT, snippets.SNIPPET_WIDTH],
                       "excerpt_seconds": snippets.EXCERPT_SECONDS},
        training_data={"dataset": "pairs", "audio": run.audio,
                       "build_config": build.read_build_config(data_dir, ("description",)),
                       "pairs": {s: report.get("tfrecords", {}).get(s) for s in tfrecords.SPLITS}},
        metrics={"test_candidates": results["test"]["audio_to_sheet"]["candidates"],
                 **{f"test_{d}_{k}": v for d, r in results["test"].items() for k, v in r.items()
                    if k in ("R@1", "R@10", "MRR")},
                 "validation_mrr": round(mean_mrr(results["validation"]), 4)},
        training={"best_epoch": best_epoch, "epochs_run": len(history["loss"]), "train_seconds": round(train_seconds),
                  "config": config_lib.to_dict(config), "init": run.init or None},
        **extra)
    return {"results": results, "best_epoch": best_epoch, "train_seconds": train_seconds, "out_dir": str(out_dir)}

