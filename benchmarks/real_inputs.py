"""Recognition on staves framed the way people crop them (``make bench-real-inputs``).

Every condition reads the same held-out test staves of the staff build (the piece-hash split contract), padded
with white paper as a user's crop or a rendered page leaves them: the figure that says whether a recognizer
finds its staff (docs/decisions/0019-framing.md). The shipped omr-resnet-bisru and the omr-crnn-bilstm
baseline read with their manifests' reading rules.

A second table reads a fixed subset of the same staves re-engraved from their MusicXML by the engravers other
than Verovio (:mod:`zoo.datasets.engravers`) and by Verovio with lyrics and markings (:mod:`zoo.datasets.markings`),
beside Verovio's own engraving of the same staves: what a score from another program, or a printed page's
clutter, costs. Engravings are kept under ``<data>/engravers/`` so a re-run only reads. Photos join when their
data is built (issue 36).
"""
from __future__ import annotations

import argparse
import json
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import tensorflow as tf
from music21 import converter

import zoo
from benchmarks.report import RESULTS, stamp, table, write_section
from zoo import paths
from zoo.datasets import engrave, engravers, markings, segments, tfrecords
from zoo.datasets.engrave import EngravingError
from zoo.metrics import ErrorRates
from zoo.preprocessing import image as staff_image
from zoo.preprocessing.distortions import DistortionConfig, distort_png_bytes

MODELS = ("omr-resnet-bisru", "omr-crnn-bilstm")
# name → paper added: shares of the staff image's height (top, bottom) and width (left, right), or pixels
CONDITIONS: dict[str, dict[str, Any]] = {
    "tight (as built)": {},
    "20 px left and above (a rendered page's corner)": {"top": 20, "left": 20, "pixels": True},
    "25 % of the height above and below": {"top": 0.25, "bottom": 0.25},
    "100 % of the height above and below": {"top": 1.0, "bottom": 1.0},
    "50 % of the width left and right": {"left": 0.5, "right": 0.5},
    "page margins (100 % of the height, 50 % of the width)": {"top": 1.0, "bottom": 1.0, "left": 0.5, "right": 0.5},
}


def framed(paper: tf.Tensor, top: float = 0, bottom: float = 0, left: float = 0, right: float = 0,
           pixels: bool = False) -> tf.Tensor:
    """A paper-white [H, W, 1] staff with white paper added on each side."""
    h, w = (float(x) for x in paper.shape[:2])
    rows = [int(top), int(bottom)] if pixels else [round(top * h), round(bottom * h)]
    cols = [int(left), int(right)] if pixels else [round(left * w), round(right * w)]
    return tf.pad(paper, [rows, cols, [0, 0]], constant_values=1.0)


# compiled once: run op by op, normalize's conditions and loops cost three times as much
_normalize = tf.function(staff_image.normalize, input_signature=[tf.TensorSpec([None, None, 1], tf.float32)])


def evaluate(model: zoo.ZooModel, examples: list[tuple[bytes, list[str]]], condition: dict[str, Any],
             batch: int = 16) -> dict[str, Any]:
    rates = ErrorRates()
    for i in range(0, len(examples), batch):
        chunk = examples[i:i + batch]
        staves = [_normalize(framed(staff_image.decode_image(image), **condition)).numpy()
                  for image, _ in chunk]
        for result, (_, reference) in zip(model.recognize_staves(staves), chunk):
            rates.add(reference, result["tokens"])
    summary = rates.summary()
    return {"ser": round(summary["ser"], 5), "sequence_error_rate": round(summary["sequence_error_rate"], 4),
            "errors": summary["errors"], "reference_tokens": summary["reference_tokens"]}


VEROVIO_ROW = "Verovio (as built)"
MARKINGS_ROW = "Verovio, with lyrics and markings"
PHOTO_ROW = "Verovio, photographed (±5°, uneven light, paper grain, JPEG)"
# the tight staff turned by up to 5° loses the ends of its top and bottom rows out of the frame; a photo of a page
# keeps them, so the same photo is taken again of the staff on paper (half its height on every side)
PHOTO_PAGE_ROW = "Verovio, photographed on its page (the same, nothing cut off)"
PAGE_PAPER = 0.5
REDRAWN = (*engravers.ENGRAVERS, MARKINGS_ROW, PHOTO_ROW, PHOTO_PAGE_ROW)
PHOTO_SEED = 36
ENGRAVER_STAVES = 300  # re-engraving costs 1-3 s a staff and engraver


def redraw(row: str, sample_id: str, xml: str, font: str, built: bytes, index: int) -> bytes:
    """One test staff drawn again: by another engraver; by its own Verovio font with a verse of lyrics and
    markings drawn at the staff build's rates (seeded by the staff, so every run draws the same); or its built
    image as a phone photo (:meth:`DistortionConfig.photo`, seeded by its place in the subset), alone or on its
    page."""
    if row == PHOTO_ROW:
        return distort_png_bytes(built, PHOTO_SEED, DistortionConfig.photo(), index=index)
    if row == PHOTO_PAGE_ROW:
        paper = staff_image.decode_image(built)
        pad = round(PAGE_PAPER * float(paper.shape[0]))
        page = framed(paper, pad, pad, pad, pad, pixels=True)
        return distort_png_bytes(tf.io.encode_png(tf.cast(tf.round(page * 255.0), tf.uint8)).numpy(), PHOTO_SEED,
                                 DistortionConfig.photo(), index=index)
    if row in engravers.ENGRAVERS:
        return engravers.engrave(xml, row).png
    part = converter.parseData(xml, format="musicxml").parts[0]
    drawn = markings.decorate(part, random.Random(sample_id), markings.MarkingRates(lyrics=1.0))
    return engrave.engrave(segments.to_musicxml(part), font, measure_numbers=bool(drawn.get("measure_numbers"))).png


def engraved_examples(data_dir: Path, limit: int, workers: int = 2
                      ) -> tuple[dict[str, list[tuple[bytes, list[str]]]], dict[str, int]]:
    """A fixed subset of the test staves as built and redrawn (:func:`redraw`; the same staves in every row: one
    that a row cannot draw is left out of all), with the count each row failed on."""
    ds = tfrecords.fixed_subset(tfrecords.make_dataset(data_dir, "test", "staff"), limit)
    rows = [(e["sample_id"].decode(), bytes(e["image"]), [t.decode() for t in e["tokens"]], e["font"].decode())
            for e in ds.as_numpy_iterator()]
    cache = data_dir / "engravers"

    def draw(job: tuple[str, int, tuple[str, bytes, list[str], str]]) -> bytes | None:
        row, index, (sample_id, built, _, font) = job
        path = cache / re.sub(r"\W+", "_", row).strip("_") / f"{sample_id}.png"
        if path.is_file():
            return path.read_bytes() or None  # an empty file records a failure
        xml = data_dir / "samples" / sample_id / f"{sample_id}.musicxml"
        try:
            png = redraw(row, sample_id, xml.read_text(encoding="utf-8"), font, built, index)
        except (EngravingError, OSError, ValueError):
            png = b""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png or None

    drawn: dict[str, list[bytes | None]] = {}
    for row in REDRAWN:
        began = time.perf_counter()
        jobs = [(row, i, r) for i, r in enumerate(rows)]
        if row in engravers.ENGRAVERS:  # subprocesses
            with ThreadPoolExecutor(workers) as pool:
                drawn[row] = list(pool.map(draw, jobs))
        else:  # a Verovio toolkit made outside the main thread cannot load anything
            drawn[row] = list(map(draw, jobs))
        print(f"{row}: {sum(p is not None for p in drawn[row])} of {len(rows)} staves drawn "
                  f"({time.perf_counter() - began:.0f} s)", flush=True)
    keep = [i for i in range(len(rows)) if all(drawn[n][i] is not None for n in REDRAWN)]
    out = {VEROVIO_ROW: [(rows[i][1], rows[i][2]) for i in keep]}
    out.update({n: [(drawn[n][i], rows[i][2]) for i in keep] for n in REDRAWN})
    return out, {n: sum(p is None for p in drawn[n]) for n in REDRAWN}


def example_figure(sets: dict[str, list[tuple[bytes, list[str]]]], model: zoo.ZooModel, path: Path,
                   index: int = 0) -> None:
    """One test staff as each row draws it, above what the recognizer sees after framing, with its reading and
    its token errors: what the table's figures look like."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2 * len(sets), 1, figsize=(12, 2.1 * len(sets)))
    for k, (row, examples) in enumerate(sets.items()):
        image, reference = examples[index]
        staff = staff_image.png_to_staff(image).numpy()
        tokens = model.recognize_staves([staff])[0]["tokens"]
        rates = ErrorRates()
        rates.add(reference, tokens)
        axes[2 * k].imshow(staff_image.decode_image(image).numpy()[..., 0], cmap="gray", vmin=0, vmax=1)
        axes[2 * k].set_title(f"{row}: {rates.summary()['errors']} token errors of {len(reference)}", fontsize=9,
                              loc="left")
        axes[2 * k + 1].imshow(1.0 - staff[..., 0], cmap="gray", vmin=0, vmax=1, aspect="auto")
        axes[2 * k + 1].set_title("read: " + " ".join(tokens)[:190], fontsize=6, loc="left")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_engravers(data_dir: Path, limit: int) -> dict[str, Any]:
    sets, failed = engraved_examples(data_dir, limit)
    if not sets[VEROVIO_ROW]:
        raise SystemExit(f"no test staff could be drawn by every engraver ({failed}): is `make setup` done?")
    results: dict[str, Any] = {"staves": len(sets[VEROVIO_ROW]), "failed": failed, "models": {}}
    for name in MODELS:
        model = zoo.load(name)
        results["models"][name] = {row: evaluate(model, examples, {}) for row, examples in sets.items()}
        if name == MODELS[0]:
            example_figure(sets, model, RESULTS / "real_inputs_examples.png")
        print(f"{name}: " + ", ".join(f"{row} {100 * r['ser']:.2f} %" for row, r in results["models"][name].items()),
              flush=True)
    return results


def run(data_dir: Path, limit: int | None) -> dict[str, Any]:
    ds = tfrecords.make_dataset(data_dir, "test", "staff")
    if limit:
        ds = tfrecords.fixed_subset(ds, limit)
    examples = [(bytes(e["image"]), [t.decode() for t in e["tokens"]]) for e in ds.as_numpy_iterator()]
    results: dict[str, Any] = {"measured": stamp(), "data": str(data_dir), "staves": len(examples), "models": {}}
    for name in MODELS:
        model = zoo.load(name)
        results["models"][name] = {}
        for label, condition in CONDITIONS.items():
            began = time.perf_counter()
            results["models"][name][label] = evaluate(model, examples, condition)
            print(f"{name} · {label}: SER {100 * results['models'][name][label]['ser']:.2f} % "
                  f"({time.perf_counter() - began:.0f} s)", flush=True)
    return results


def markdown(r: dict[str, Any]) -> str:
    header = ["framing"] + [f"{name} SER · sequences wrong" for name in MODELS]
    rows = [[label] + [f"{100 * r['models'][m][label]['ser']:.2f} % · "
                       f"{100 * r['models'][m][label]['sequence_error_rate']:.1f} %" for m in MODELS]
            for label in CONDITIONS]
    carried = f" (this table measured {r['framing_measured']})" if r.get("framing_measured") else ""
    out = (f"## Real inputs: framing (`make bench-real-inputs`)\n\n{r['staves']:,} test staves of "
           f"`{Path(r['data']).name}`, each condition on the same staves{carried}.\n\n" + table(header, rows) +
           "\n\n- Target (issue 36): SER ≤ 1.5 % with page margins, while tight stays ≤ 0.5 %.")
    e = r.get("engravers")
    if e:
        rows = [[row] + [f"{100 * e['models'][m][row]['ser']:.2f} % · "
                         f"{100 * e['models'][m][row]['sequence_error_rate']:.1f} %" for m in MODELS]
                for row in e["models"][MODELS[0]]]
        failed = ", ".join(f"{n} {k}" for n, k in e["failed"].items() if k)
        out += (f"\n\n### Other engravers, lyrics and markings\n\nThe same {e['staves']} test staves (a fixed subset) "
                "as built by Verovio, re-engraved from their MusicXML by LilyPond and MuseScore 3, and engraved again "
                "by Verovio with a verse of lyrics and markings (zoo.datasets.markings), cropped tight; and the built "
                "staves as phone photos (DistortionConfig.photo), alone and on their page (paper of half the "
                "staff's height around it, so the tilt cuts off no ink)"
                f"{f' (left out because an engraver failed on them: {failed})' if failed else ''}.\n\n"
                + table(["engraver"] + [f"{m} SER · sequences wrong" for m in MODELS], rows)
                + "\n\n- Lyrics and text lines around a staff are cleared before it is framed "
                "(docs/decisions/0026-staff-ink.md); the first staff of the subset in every row, as the recognizer "
                "sees and reads it: `benchmarks/results/real_inputs_examples.png`."
                + "\n- A photo's uneven light is evened out and a staff tilted 2° or more is turned level before it "
                "is framed (docs/decisions/0027-levelling.md)."
                + "\n- Targets (issue 36): SER ≤ 5 % on an engraver left out of training, ≤ 3 % with lyrics and "
                "markings, ≤ 2 % distorted.")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=paths.data_dir() / "staff")
    parser.add_argument("--limit", type=int, default=None, help="a fixed random subset of the test staves")
    parser.add_argument("--engraver-staves", type=int, default=ENGRAVER_STAVES,
                        help="test staves re-engraved by each other engraver (0: skip that table)")
    parser.add_argument("--keep-framing", action="store_true",
                        help="measure the redrawn table only; the framing table is carried over from the last run")
    args = parser.parse_args()
    if args.keep_framing:
        previous = RESULTS / "bench-real-inputs.json"
        if not previous.is_file():
            raise SystemExit(f"--keep-framing needs a previous run's {previous}")
        results = json.loads(previous.read_text(encoding="utf-8"))
        results["framing_measured"] = results.pop("framing_measured", None) or results["measured"]
        results["measured"] = stamp()
    else:
        results = run(args.data, args.limit)
    if args.engraver_staves:
        results["engravers"] = run_engravers(args.data, args.engraver_staves)
    write_section("bench-real-inputs", markdown(results), results, RESULTS)


if __name__ == "__main__":
    main()
