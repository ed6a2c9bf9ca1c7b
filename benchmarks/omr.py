"""``make bench-omr``: score recognition — the seed model, the CRNN baseline and two ablations.

    python -m benchmarks.omr train [--minutes 22]   # make bench-omr-train: the four models, one after another,
                                                    # each under the same wall-time budget, into runs/omr-*
    python -m benchmarks.omr [--data DIR]           # make bench-omr: evaluate them, write BENCHMARKS.md

The four are trained on the same staff dataset with the same budget, batch, learning rate,
augmentation and seed; only the architecture differs. Evaluation: greedy CTC on the clean
test split and on its Camera-PrIMuS-style distorted copy (``scorezoo data distort``), plus
step times, inference throughput, the PrIMuS fixture and a MusicXML round trip.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import tensorflow as tf

import zoo
from benchmarks.report import RESULTS, ROOT, section_stamp, stamp, table, write_section
from zoo import paths
from zoo.datasets import staff, tfrecords
from zoo.layers import BidirectionalSRU
from zoo.metrics import edit_ops
from zoo.notation.decoder import tokens_to_stream
from zoo.notation.encoder import stream_to_tokens
from zoo.notation.readers import read_semantic
from zoo.preprocessing import image as staff_image
from zoo.training import omr as train_omr

RUNS = ROOT / "runs"
FIXTURE = ROOT / "data" / "fixtures" / "primus" / "000051652-1_2_1"
# label → (registered model, config overrides, run folder)
VARIANTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "omr-resnet-bisru (seed)": ("omr-resnet-bisru", {}, "omr-resnet-bisru"),
    "omr-crnn-bilstm (baseline)": ("omr-crnn-bilstm", {}, "omr-crnn-bilstm"),
    "ablation: no fusion": ("omr-resnet-bisru", {"fusion": False}, "omr-ablation-nofusion"),
    "ablation: BiLSTM for BiSRU": ("omr-resnet-bisru", {"rnn": "lstm"}, "omr-ablation-bilstm"),
}
SEED = "omr-resnet-bisru (seed)"
SHIPPED = "omr-resnet-bisru (shipped)"
# further training runs of the seed model, evaluated when their folders exist (label → run folder)
CONTINUED: dict[str, str] = {"omr-resnet-bisru continued on staff data only": "omr-resnet-bisru-long"}
INCIPITS = "staff-incipits"  # the supplement build (C clefs, multi-measure rests), evaluated on its test split
CURVES = "omr_training_curves.png"  # the equal-budget runs
SHIPPED_CURVES = "omr_shipped_curves.png"  # all training stages of the shipped weights


def train_all(data_dir: Path, minutes: float, steps_per_epoch: int = 250) -> None:
    """Each variant in its own process (a clean TF state), one after the other: the machine has 2 cores."""
    for label, (name, overrides, folder) in VARIANTS.items():
        out = RUNS / folder
        cmd = [sys.executable, "-m", "zoo.cli", "train", name, "--data", str(data_dir), "--out", str(out),
               "--minutes", str(minutes), "--set", f"train.steps_per_epoch={steps_per_epoch}",
               "--set", "train.verbose=2"]
        cmd += [arg for k, v in overrides.items() for arg in ("--set", f"model.{k}={json.dumps(v)}")]
        print(f"== {label}: {' '.join(cmd[2:])}", flush=True)
        subprocess.run(cmd, check=True)


def training_record(model: zoo.ZooModel) -> dict[str, Any]:
    """The ``training`` block of a model's manifest (its stages, budget, data), empty without a manifest."""
    return model.manifest.extra.get("training", {}) if model.manifest else {}


def load_run(name: str, folder: str) -> zoo.ZooModel | None:
    """``name`` with the weights of run folder ``runs/<folder>``, if that run finished (wrote its manifest)."""
    run = RUNS / folder
    return zoo.load(name, weights=run) if (run / "manifest.json").exists() else None


def load_variant(label: str) -> zoo.ZooModel | None:
    name, _, folder = VARIANTS[label]
    if (model := load_run(name, folder)) is not None:
        return model
    if not VARIANTS[label][1] and zoo.get_spec(name).pretrained is not None:
        shipped = zoo.load(name)
        if len(training_record(shipped).get("stages", [])) < 2:
            return shipped  # the shipped weights are this run's weights, not trained on further
    return None


def shipped_if_different(seed: zoo.ZooModel | None) -> zoo.ZooModel | None:
    """The shipped seed model when it is not the equal-budget run's (it was trained on further)."""
    shipped = zoo.load(VARIANTS[SEED][0])
    if seed is not None and seed.manifest is not None and seed.manifest.sha256 == shipped.manifest.sha256:
        return None
    return shipped


def stages_history(model: zoo.ZooModel) -> dict[str, list[float]] | None:
    """One history over all training stages of a continued model (seconds run on across stages).

    A stage whose run folder is gone still takes its time on the axis (from the manifest), without points.
    """
    merged: dict[str, list[float]] = {"loss": [], "val_ser": [], "seconds": []}
    offset = 0.0
    for stage in training_record(model).get("stages", []):
        if "interpolation" in stage:  # weights mixed from earlier stages, no training of its own
            continue
        path = ROOT / stage["run"] / "history.json"
        if not path.exists():
            offset += stage["train_seconds"]
            continue
        h = json.loads(path.read_text())
        merged["loss"] += h["loss"]
        merged["val_ser"] += h["val_ser"]
        merged["seconds"] += [offset + t for t in h["seconds"]]
        offset += stage["train_seconds"]
    return merged if merged["loss"] else None


def layer_step_time(rnn: str, batch: int = 16, steps: int = 320, features: int = 256, units: int = 128,
                    repeats: int = 10) -> float:
    """Seconds per forward+backward pass of one bidirectional recurrent layer alone."""
    layer = (BidirectionalSRU(units) if rnn == "sru"
             else tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(units, return_sequences=True)))
    x = tf.random.normal([batch, steps, features])
    layer(x)

    @tf.function
    def step(x: tf.Tensor) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer(x, training=True)))
        return tape.gradient(loss, layer.trainable_variables)

    step(x)
    start = time.perf_counter()
    for _ in range(repeats):
        [g.numpy() for g in step(x)]
    return (time.perf_counter() - start) / repeats


def model_step_time(name: str, overrides: dict[str, Any], vocabulary: list[str], batch: int = 16, width: int = 1024,
                    repeats: int = 5) -> float:
    """Seconds per training step (forward, CTC loss, backward, Adam) of a whole model on one fixed batch."""
    net = zoo.create_model(name, vocabulary=vocabulary, **overrides).keras_model
    step = train_omr.make_train_step(net, tf.keras.optimizers.Adam(1e-3))
    inputs = {"image": tf.random.uniform([batch, staff_image.HEIGHT, width, 1]), "width": tf.fill([batch], width)}
    labels = tf.random.uniform([batch, 40], 0, len(vocabulary), dtype=tf.int64)
    step(inputs, labels)
    start = time.perf_counter()
    for _ in range(repeats):
        step(inputs, labels).numpy()
    return (time.perf_counter() - start) / repeats


def throughput(model: zoo.ZooModel, data_dir: Path, batch: int, count: int = 256) -> float:
    """Staves/s from normalized staff arrays to tokens (network + greedy decoding), test staves in file order."""
    staves = [s for s, _ in tfrecords.make_dataset(data_dir, "test", "staff").map(
        lambda e: (staff_image.png_to_staff(e["image"]), e["tokens"])).take(count).as_numpy_iterator()]
    model.recognize_staves(staves[:batch])
    start = time.perf_counter()
    for i in range(0, len(staves), batch):
        model.recognize_staves(staves[i:i + batch])
    return len(staves) / (time.perf_counter() - start)


def fixture_check(model: zoo.ZooModel, train_counts: Counter) -> dict[str, Any]:
    """The real PrIMuS sample (engraved by the 2017 Verovio) through the seed model."""
    reference = read_semantic(FIXTURE.with_suffix(".semantic"))
    result = model.predict(FIXTURE.with_suffix(".png"))
    ops = [op for op in edit_ops(reference, result["tokens"]) if op[0] != "match"]
    return {"reference": reference, "recognized": result["tokens"], "confidence": result["confidence"],
            "token_errors": len(ops), "edits": [list(op) for op in ops],
            "reference_tokens_unseen_in_training": [t for t in reference if train_counts[t] == 0]}


def musicxml_round_trip(model: zoo.ZooModel, data_dir: Path) -> dict[str, Any]:
    """Recognize one test staff image, write MusicXML and MIDI, read the MusicXML back with music21."""
    import music21

    example = next(tfrecords.iter_examples(data_dir, "test", "staff"))
    image = RESULTS / "omr_test_staff.png"
    image.write_bytes(bytes(example["image"]))
    reference = [t.decode() for t in example["tokens"]]
    result = model.predict(image)
    part = model.to_stream(result["tokens"])
    xml = part.write("musicxml", fp=RESULTS / "omr_test_staff.musicxml")
    part.write("midi", fp=RESULTS / "omr_test_staff.mid")
    back = music21.converter.parse(xml)
    notes = [n.nameWithOctave for n in back.recurse().notes]
    ref_notes = [n.nameWithOctave for n in tokens_to_stream(reference).recurse().notes]
    return {"sample_id": example["sample_id"].decode(), "font": example["font"].decode(), "reference": reference,
            "recognized": result["tokens"], "token_errors": sum(op[0] != "match" for op in edit_ops(reference,
                                                                                                    result["tokens"])),
            "musicxml": str(Path(xml).relative_to(ROOT)), "read_back_measures": len(back.recurse().getElementsByClass(
                "Measure")), "read_back_notes": notes, "reference_notes": ref_notes,
            "read_back_equals_recognized": stream_to_tokens(back.parts[0]) == result["tokens"]}


def training_curves_plot(histories: dict[str, dict[str, list[float]]], out: Path,
                         val_title: str = "validation SER, % (400 staves)") -> None:
    import matplotlib.ticker

    from zoo.training.plots import plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, h in histories.items():
        minutes = [s / 60 for s in h["seconds"]]
        axes[0].plot(minutes, h["loss"], marker=".", label=label)
        axes[1].plot(minutes, [100 * v for v in h["val_ser"]], marker=".", label=label)
    axes[0].set_title("training CTC loss (per label)")
    axes[1].set_title(val_title)
    axes[1].set_yscale("log")
    axes[1].yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())  # 1.5, not 1.5×10⁰
    axes[1].yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    for ax in axes:
        ax.set_xlabel("wall-clock minutes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def previous_results() -> dict[str, Any] | None:
    """The last bench-omr results, with when they were measured (older files have it only in BENCHMARKS.md)."""
    path = RESULTS / "bench-omr.json"
    if not path.exists():
        return None
    previous = json.loads(path.read_text())
    previous.setdefault("measured", section_stamp("bench-omr"))
    return previous


def carried_over(label: str, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """A run whose folder is gone keeps its last measured figures, marked with when and on which test split."""
    entry = (previous or {}).get("models", {}).get(label)
    if entry is None:
        return None
    entry = dict(entry)
    entry.setdefault("carried_over", {"measured": previous.get("measured"),
                                      "test_staves": entry["test"]["sequences"],
                                      "test_tokens": entry["test"]["reference_tokens"]})
    return entry


def run(data_dir: Path, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate every model whose run exists; ``previous`` results stand in for runs no longer on disk."""
    distorted = "test" + staff.DISTORTED_SUFFIX
    if not (data_dir / "tfrecords" / distorted).exists():
        print("writing the distorted test split (scorezoo data distort)…", flush=True)
        staff.write_distorted_split(data_dir, "test")
    results: dict[str, Any] = {"data": str(data_dir), "measured": stamp(), "models": {}}
    histories, loaded = {}, {}
    incipits = data_dir.parent / INCIPITS
    for label in [*VARIANTS, *CONTINUED, SHIPPED]:
        if label in VARIANTS:
            model = load_variant(label)
        elif label in CONTINUED:
            model = load_run(VARIANTS[SEED][0], CONTINUED[label])
        else:
            model = shipped_if_different(loaded[SEED])
        loaded[label] = model
        if model is None and label != SHIPPED and (entry := carried_over(label, previous)) is not None:
            print(f"{label}: no run folder; figures carried over from {entry['carried_over']['measured']}", flush=True)
            results["models"][label] = entry
            continue
        if model is None and label not in VARIANTS:
            continue
        if model is None:
            print(f"skipping {label}: no run folder runs/{VARIANTS[label][2]} (make bench-omr-train)", flush=True)
            continue
        entry: dict[str, Any] = {"config": {k: model.config[k] for k in ("backbone", "fusion", "rnn", "filters")},
                                 "params": int(model.keras_model.count_params())}
        for split in ("test", distorted):
            t = time.perf_counter()
            entry[split] = train_omr.evaluate(model, data_dir, split)
            print(f"{label} {split}: SER {entry[split]['ser']:.4f} ({time.perf_counter() - t:.0f} s)", flush=True)
        if (incipits / "tfrecords" / "test").exists():
            entry[INCIPITS] = train_omr.evaluate(model, incipits, "test")
        entry["training"] = training_record(model)
        entry["validation_ser"] = model.manifest.metrics.get("validation_ser") if model.manifest else None
        if label in VARIANTS and (RUNS / VARIANTS[label][2] / "history.json").exists():
            histories[label] = json.loads((RUNS / VARIANTS[label][2] / "history.json").read_text())
        elif label == SHIPPED and (merged := stages_history(model)):
            training_curves_plot({label: merged}, RESULTS / SHIPPED_CURVES, "validation SER, % (600 staves)")
        results["models"][label] = entry
    if histories:  # the equal-budget runs; without their folders, the plot of their last measurement stays
        training_curves_plot(histories, RESULTS / CURVES)
    train_counts = train_omr.token_counts(data_dir)
    vocabulary = train_omr.training_vocabulary(data_dir, train_counts)
    results["layer_step_seconds"] = {rnn: round(layer_step_time(rnn), 4) for rnn in ("sru", "lstm")}
    results["model_step_seconds"] = {label: round(model_step_time(name, ov, vocabulary), 3)
                                     for label, (name, ov, _) in VARIANTS.items()}
    seed = loaded.get(SHIPPED) or loaded[SEED]  # what users get: the shipped weights
    if seed is not None:
        results["inference_model"] = SHIPPED if loaded.get(SHIPPED) else SEED
        results["staves_per_second"] = {f"batch_{b}": round(throughput(seed, data_dir, b), 1) for b in (1, 16)}
        for key, check in (("fixture", lambda: fixture_check(seed, train_counts)),
                           ("musicxml", lambda: musicxml_round_trip(seed, data_dir))):
            try:
                results[key] = check()
            except Exception as exc:  # reported in the table, not lost with the evaluations above
                results[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def markdown(r: dict[str, Any]) -> str:
    distorted = "test" + staff.DISTORTED_SUFFIX
    models = r["models"]
    fresh = next((m for m in reversed(models.values()) if "carried_over" not in m), next(iter(models.values())))
    carried = {m["carried_over"]["measured"]: m["carried_over"] for m in models.values() if "carried_over" in m}

    def name(label: str) -> str:
        return f"{label} †" if "carried_over" in models[label] else label

    rows = []
    for label, m in models.items():
        tr = m["training"]
        stages = tr.get("stages", [])
        trained_stages = [st for st in stages if "interpolation" not in st]  # interpolations train nothing
        mixes = len(stages) - len(trained_stages)
        trained = (f"{tr.get('train_seconds', 0) / 60:.1f} min, {tr.get('epochs', '?')} × 250 steps"
                   if len(stages) < 2 else
                   f"{tr['total_train_seconds'] / 60:.0f} min in {len(trained_stages)} stages: "
                   + " + ".join(f"{st['train_seconds'] / 60:.0f}" for st in trained_stages)
                   + (f", and {mixes} weight interpolation{'s' * (mixes > 1)}" if mixes else ""))
        seen = sum(st["images_seen"] for st in stages) if len(stages) > 1 else tr.get("images_seen", "?")
        rows.append([name(label), f"{m['params'] / 1e6:.2f} M", _pct(m["test"]["ser"]),
                     _pct(m["test"]["sequence_error_rate"]), _pct(m[distorted]["ser"]),
                     _pct(m[distorted]["sequence_error_rate"]),
                     _pct(m[INCIPITS]["ser"]) if INCIPITS in m else "–", trained, seen])
    categories = list(fresh["test"]["errors_by_type"])
    breakdown = [[name(label)] + [f"{m['test']['errors_by_type'][c]} / {m[distorted]['errors_by_type'][c]}"
                                  for c in categories] for label, m in models.items()]
    footnotes = [f"† No run folder any more (`runs/` is not kept); these figures are carried over from the "
                 f"measurement of {when}, on the staff build of then ({c['test_staves']:,} test staves, "
                 f"{c['test_tokens']:,} tokens)." for when, c in carried.items()]
    ls = r["layer_step_seconds"]
    lines = [
        "## Score recognition (`make bench-omr`)",
        "",
        f"Staff dataset test split: {fresh['test']['sequences']:,} staves, {fresh['test']['reference_tokens']:,} "
        "tokens (pieces disjoint from training), and its Camera-PrIMuS-style distorted copy. Greedy CTC decoding. "
        "All four trained by `make bench-omr-train` on the same data, batch 16, Adam 1e-3, distortion "
        "augmentation on half of the images, seed 0, and the same wall-time budget."
        + (" The **shipped** `omr-resnet-bisru` is the seed run trained on further (stages below: learning rate, "
           "schedule and data of each in its manifest); it is not an equal-budget comparison."
           if SHIPPED in models else ""),
        "",
        table(["model", "params", "SER clean", "seq. error clean", "SER distorted", "seq. error distorted",
               "SER incipits test", "training", "staves seen"], rows),
        "",
        *[line for note in footnotes for line in (note, "")],
        "SER incipits test: the test split of the `staff-incipits` supplement (other segments of the same test "
        "pieces, mostly in C and other incipit clefs, a quarter opening with a multi-measure rest; "
        + (f"{next(m[INCIPITS]['sequences'] for m in models.values() if INCIPITS in m)} staves)."
           if any(INCIPITS in m for m in models.values()) else "not built)."),
        "",
        "Errors by token type (clean / distorted):",
        "",
        table(["model"] + categories, breakdown),
        "",
        f"- Recurrent layer alone (forward + backward, batch 16, 320 steps, 256 → 2×128): BiSRU "
        f"{1000 * ls['sru']:.1f} ms, BiLSTM {1000 * ls['lstm']:.1f} ms — **{ls['sru'] / ls['lstm']:.2f}×** "
        "(target ≤ 0.6×).",
        "- Whole training step (batch 16, 1024 px): " + ", ".join(
            f"{label} {1000 * s:.0f} ms" for label, s in r["model_step_seconds"].items()) + ".",
    ]
    if "staves_per_second" in r:
        sp, fx, mx = r["staves_per_second"], r["fixture"], r["musicxml"]
        for key in ("fixture", "musicxml"):
            if "error" in r[key]:
                lines += [f"- {key} check failed: {r[key]['error']}"]
                return "\n".join(lines)
        lines += [
            f"- Inference ({r.get('inference_model', SEED)}, network + greedy decoding): {sp['batch_1']} staves/s "
            f"at batch 1, "
            f"{sp['batch_16']} staves/s at batch 16.",
            "",
            f"### PrIMuS fixture (`data/fixtures/primus/000051652-1_2_1.png`, engraved by the 2017 Verovio), "
            f"{r.get('inference_model', SEED)}",
            "",
            f"- reference:  `{' '.join(fx['reference'])}`",
            f"- recognized: `{' '.join(fx['recognized'])}` (confidence {fx['confidence']:.3f})",
            f"- **{fx['token_errors']} token error(s)** (target ≤ 1): " + "; ".join(
                f"{op} {ref or '–'} → {hyp or '–'}" for op, ref, hyp in fx["edits"]),
            "- reference tokens never seen in the staff build's training split (the staff-incipits supplement has "
            "both kinds): "
            + (", ".join(f"`{t}`" for t in fx["reference_tokens_unseen_in_training"]) or "none"),
            "",
            "### MusicXML from a recognized test image",
            "",
            f"`benchmarks/results/omr_test_staff.png` ({mx['sample_id']}, {mx['font']}) → "
            f"{mx['token_errors']} token error(s) → "
            f"`{mx['musicxml']}` (+ `.mid`); read back with `music21.converter.parse`: "
            f"{mx['read_back_measures']} measures, {len(mx['read_back_notes'])} notes "
            f"({len(mx['reference_notes'])} in the reference); re-encoded tokens equal the recognized ones: "
            f"{mx['read_back_equals_recognized']}.",
        ]
    lines += ["", f"![equal-budget training curves](benchmarks/results/{CURVES})", "",
              "Validation SER in these curves: the 22-minute runs scored the first 400 validation staves in file "
              "order (mostly Bach, harder)"
              + (f"; the plot is from the measurement of {next(iter(carried))}." if carried else ".")]
    if SHIPPED in models and (RESULTS / SHIPPED_CURVES).exists():
        lines += ["", f"![shipped model's training stages](benchmarks/results/{SHIPPED_CURVES})", "",
                  "All training stages of the shipped weights, end to end (a fixed random 600 validation staves; "
                  "stages whose run folders are gone leave gaps)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=["evaluate", "train"], default="evaluate")
    parser.add_argument("--data", type=Path, default=paths.data_dir() / "staff")
    parser.add_argument("--minutes", type=float, default=22.0, help="training budget per model (train)")
    parser.add_argument("--from-json", type=Path, default=None, help="re-render BENCHMARKS.md from saved results")
    args = parser.parse_args()
    if args.command == "train":
        train_all(args.data, args.minutes)
        return
    if args.from_json:
        r = json.loads(args.from_json.read_text())
        r.setdefault("measured", section_stamp("bench-omr"))
    else:
        r = run(args.data, previous_results())
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "bench-omr.json").write_text(json.dumps(r, indent=2) + "\n")
    write_section("bench-omr", markdown(r), r, RESULTS)
    print(json.dumps({label: {k: m[k]["ser"] for k in m if isinstance(m[k], dict) and "ser" in m[k]}
                      for label, m in r["models"].items()}, indent=2))


if __name__ == "__main__":
    main()
