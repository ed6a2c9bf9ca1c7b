"""``make bench-genre``: genre-cnn against the classical baselines on the genre test split, plus speed.

Usage: python -m benchmarks.genre [--data DIR (default: the genre-dance-merged build)] [--weights pretrained|DIR]
                                  [--seconds 10]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import zoo
from benchmarks.report import RESULTS, table, write_section
from zoo import paths
from zoo.datasets import tfrecords
from zoo.models import genre_baselines
from zoo.models.genre_cnn import GENRES
from zoo.training import genre as train_genre
from zoo.training import plots


def features(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    index = {g: i for i, g in enumerate(GENRES)}
    ds = tfrecords.make_dataset(data_dir, split, "genre").map(
        lambda ex: (genre_baselines.summary_features(ex["audio"]), ex["genre"], ex["piece_id"]),
        num_parallel_calls=tf.data.AUTOTUNE)
    xs, ys, pieces = [], [], []
    for x, g, p in ds.batch(64).as_numpy_iterator():
        xs.append(x)
        ys += [index[v.decode()] for v in g]
        pieces += [v.decode() for v in p]
    return np.concatenate(xs), np.asarray(ys), pieces


def throughput(model: zoo.ZooModel, clip: bytes, batch: int, seconds: float) -> float:
    """Clips/s through the serving signature: WAV bytes → log-mel → CNN, all in the graph."""
    fn = model.serving_signatures()["serving_default"]
    inputs = tf.constant([clip] * batch)
    fn(inputs)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(inputs)["scores"].numpy()
        n += batch
    return n / (time.perf_counter() - start)


def piece_bootstrap(correct: dict[str, np.ndarray], pieces: list[str], rounds: int = 2000,
                    seed: int = 0) -> dict[str, list[float]]:
    """95 % intervals of clip accuracies resampling whole test pieces, since a piece's clips are not independent.

    ``correct`` maps a name to per-clip 0/1 correctness (same clip order); a name ``a - b`` is the gap of two.
    """
    index = {p: i for i, p in enumerate(sorted(set(pieces)))}
    n = len(index)
    where = np.array([index[p] for p in pieces])
    counts = np.bincount(where, minlength=n)
    hits = {name: np.bincount(where, weights=c.astype(float), minlength=n) for name, c in correct.items()}
    draws = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=rounds)
    clips = draws @ counts
    return {name: [round(float(v), 4) for v in np.percentile(draws @ h / clips, [2.5, 97.5])]
            for name, h in hits.items()}


# Reserved for held-out evaluation: no build the models train or are tuned on renders with this sound font.
HELD_OUT_SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")  # Debian timgm6mb-soundfont
REAL_INPUT_BUILDS = {"mixed instruments (the test clips' own)": "genre-test-clips-heldout-sf",
                     "piano only": "genre-test-clips-piano-heldout-sf"}
REAL_INPUT_RECIPES = {"genre-test-clips-heldout-sf": "genres-test-clips",
                      "genre-test-clips-piano-heldout-sf": "genres-test-clips-piano"}


def real_inputs(builds: dict[str, Path], model: zoo.ZooModel, baselines: dict[str, Any]) -> dict[str, Any]:
    """genre-cnn and the fitted baselines on the test pieces' clips rendered with a sound font no model heard."""
    out: dict[str, Any] = {}
    for label, data_dir in builds.items():
        split = train_genre.load_split(data_dir, "test")
        x, y, pieces = features(data_dir, "test")
        rows = {"genre-cnn": train_genre.accuracies(model.keras_model.predict(split.log_mel, batch_size=32,
                                                                              verbose=0), split.labels,
                                                      split.piece_ids)}
        rows.update({name: train_genre.accuracies(clf.predict_proba(x), y, pieces) for name, clf in baselines.items()})
        out[label] = {"data": str(data_dir), **rows}
    return out


def build_real_inputs(data_root: Path) -> dict[str, Path]:
    """The held-out-sound-font builds (built once, then read)."""
    from zoo.datasets import genre as genre_build

    if not HELD_OUT_SOUNDFONT.is_file():
        raise SystemExit(f"{HELD_OUT_SOUNDFONT} is missing: apt-get install timgm6mb-soundfont (held-out "
                         "evaluation only)")
    builds = {}
    for label, name in REAL_INPUT_BUILDS.items():
        out = data_root / name
        if not (out / "build_report.json").is_file():
            genre_build.build_dataset(out, soundfont=str(HELD_OUT_SOUNDFONT), recipe=REAL_INPUT_RECIPES[name])
        builds[label] = out
    return builds


def run(data_dir: Path, weights: str, seconds: float, real: dict[str, Path] | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"data": str(data_dir), "models": {}}
    t = time.perf_counter()
    (xtr, ytr, _), (xva, yva, _), (xte, yte, pte) = (features(data_dir, s) for s in tfrecords.SPLITS)
    results["feature_seconds"] = round(time.perf_counter() - t, 1)
    results["clips"] = {"train": len(ytr), "validation": len(yva), "test": len(yte)}
    results["test_pieces"] = len(set(pte))
    correct: dict[str, np.ndarray] = {}
    fitted: dict[str, Any] = {}
    for name in genre_baselines.baselines():
        t = time.perf_counter()
        clf, params = genre_baselines.fit(name, xtr, ytr, xva, yva)
        fitted[name] = clf
        fit_seconds = time.perf_counter() - t
        proba = clf.predict_proba(xte)
        correct[name] = proba.argmax(-1) == yte
        scores = train_genre.accuracies(proba, yte, pte)
        results["models"][name] = {"clip_accuracy": scores["clip_accuracy"],
                                   "piece_accuracy": scores["piece_accuracy"], "params": params,
                                   "fit_seconds": round(fit_seconds, 2)}
    model = zoo.load("genre-cnn", weights=weights)
    test = train_genre.load_split(data_dir, "test")
    if test.piece_ids != pte or not np.array_equal(test.labels, yte):
        raise RuntimeError("the baselines' and genre-cnn's test clips are not in the same order")
    cnn_scores = model.keras_model.predict(test.log_mel, batch_size=32, verbose=0)
    cnn = train_genre.scored(cnn_scores, test)
    best = max(correct, key=lambda n: correct[n].mean())
    cnn_correct = (cnn_scores.argmax(-1) == test.labels).astype(float)
    results["bootstrap_95"] = {"rounds": 2000, "best_baseline": best, **piece_bootstrap(
        {"genre-cnn": cnn_correct, best: correct[best], f"genre-cnn - {best}": cnn_correct - correct[best]}, pte)}
    results["models"]["genre-cnn"] = {"clip_accuracy": cnn["clip_accuracy"], "piece_accuracy": cnn["piece_accuracy"],
                                      "confusion": cnn["confusion"], "errors": cnn["errors"]}
    results["genre_cnn_training"] = model.manifest.extra.get("training", {}) if model.manifest else {}
    results["genre_cnn_training_clips"] = model.manifest.training_data.get("clips", {}) if model.manifest else {}
    clip = bytes(next(tfrecords.iter_examples(data_dir, "test", "genre"))["audio"])
    results["throughput_clips_per_s"] = {f"batch_{b}": round(throughput(model, clip, b, seconds), 1) for b in (1, 32)}
    if real:
        results["real_inputs"] = real_inputs(real, model, fitted)
    return results


def _interval(bounds: list[float], points: bool = False) -> str:
    return f"{100 * bounds[0]:+.1f} to {100 * bounds[1]:+.1f}" if points else f"{bounds[0]:.3f}–{bounds[1]:.3f}"


def markdown(r: dict[str, Any]) -> str:
    rows = [[name, f"{m['clip_accuracy']:.3f}", f"{m['piece_accuracy']:.3f}"] for name, m in r["models"].items()]
    best_baseline = max(m["clip_accuracy"] for n, m in r["models"].items() if n != "genre-cnn")
    cnn = r["models"]["genre-cnn"]["clip_accuracy"]
    tr = r["genre_cnn_training"]
    tp = r["throughput_clips_per_s"]
    boot = r["bootstrap_95"]
    return "\n".join([
        "## Genre classification (`make bench-genre`)",
        "",
        f"Build `{Path(r['data']).name}`. Test split: {r['clips']['test']} ten-second clips from "
        f"{r['test_pieces']} held-out pieces "
        f"(train {r['clips']['train']}, validation {r['clips']['validation']} clips). "
        "Baselines: summary features (MFCC means/variances, spectral centroid, bandwidth, roll-off, flatness, "
        "zero-crossing rate, RMS) + scikit-learn, hyper-parameters chosen on validation.",
        "",
        table(["model", "clip accuracy", "piece accuracy"], rows),
        "",
        f"- genre-cnn vs best baseline: {100 * (cnn - best_baseline):+.1f} points (target ≥ +10); "
        f"clip accuracy {cnn:.3f} (target ≥ 0.95).",
        f"- 95 % intervals, resampling the {r['test_pieces']} test pieces (2,000 rounds): genre-cnn "
        f"{_interval(boot['genre-cnn'])}, {boot['best_baseline']} {_interval(boot[boot['best_baseline']])}, "
        f"gap {_interval(boot['genre-cnn - ' + boot['best_baseline']], points=True)} points.",
        f"- Throughput, WAV bytes → genre through the serving signature: {tp['batch_1']} clips/s at batch 1, "
        f"{tp['batch_32']} clips/s at batch 32 (target ≥ 50).",
        f"- Training: {tr.get('train_seconds', '?')} s for {tr.get('epochs_run', '?')} epochs "
        f"(+ {tr.get('spectrogram_seconds', '?')} s computing spectrograms), from `scorezoo train genre-cnn`, on "
        f"{r.get('genre_cnn_training_clips', {}).get('train', '?')} training clips of its manifest's build; the "
        "baselines are fitted on the train split above. Every build splits pieces by a hash of the piece id "
        "(`zoo.datasets.corpus.split_of`), so a piece id in this test split is never in that training split.",
        "",
        "![accuracy](benchmarks/results/genre_accuracy.png) ![confusion](benchmarks/results/genre_confusion.png)",
        "",
        *_real_inputs_markdown(r),
        "<details><summary>genre-cnn's misread test clips</summary>",
        "",
        table(["clip", "true", "predicted", "score"], [[e["clip"], e["true"], e["predicted"], f"{e['score']:.2f}"]
                                                       for e in r["models"]["genre-cnn"]["errors"]]),
        "",
        "</details>",
    ])


def _real_inputs_markdown(r: dict[str, Any]) -> list[str]:
    real = r.get("real_inputs")
    if not real:
        return []
    names = [n for n in next(iter(real.values())) if n != "data"]
    rows = [[label] + [f"{m[n]['clip_accuracy']:.3f} · {m[n]['piece_accuracy']:.3f}" for n in names]
            for label, m in real.items()]
    clips = next(iter(real.values()))["genre-cnn"]["clips"]
    return ["### Real inputs: a sound font no model heard", "",
            f"The test pieces' clips ({clips} clips of the mixed build) rendered again with a General MIDI sound "
            "font reserved for held-out evaluation (no build the models train or are tuned on uses it); clip "
            "accuracy · piece accuracy.", "",
            table(["rendering"] + names, rows), "",
            "- Target (issue 36): ≥ 0.93 with the shipped model.", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # the shipped genre-cnn was trained on the genres-large build's train split. genres-dance-merged (the same
    # piece split; fiddle limited to dance tunes; each Josquin chanson one piece of all its voices) is what the
    # genres mean now, and the baselines are fitted on its train split here. --data data/cache/genre-dance or
    # data/cache/genre-large measures the older definitions.
    parser.add_argument("--data", type=Path, default=paths.data_dir() / "genre-dance-merged")
    parser.add_argument("--weights", default="pretrained")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing budget per throughput measurement")
    parser.add_argument("--real-inputs", action="store_true",
                        help="also the test pieces rendered with the held-out sound font (built on first use)")
    args = parser.parse_args()
    real = build_real_inputs(paths.data_dir()) if args.real_inputs else None
    r = run(args.data, args.weights, args.seconds, real)
    plots.bar_chart({n: {"clip": m["clip_accuracy"], "piece": m["piece_accuracy"]} for n, m in r["models"].items()},
                    RESULTS / "genre_accuracy.png", "Genre accuracy on held-out pieces", "accuracy")
    plots.confusion_matrix(np.array(r["models"]["genre-cnn"]["confusion"]), GENRES, RESULTS / "genre_confusion.png",
                           "genre-cnn, test clips")
    write_section("bench-genre", markdown(r), r, RESULTS)
    summary = {n: {k: v for k, v in m.items() if k not in ("confusion", "errors")} for n, m in r["models"].items()}
    print(json.dumps(summary, indent=2))
    print(json.dumps(r["throughput_clips_per_s"]))


if __name__ == "__main__":
    main()
