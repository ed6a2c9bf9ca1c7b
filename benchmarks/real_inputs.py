"""Recognition on staves framed the way people crop them (``make bench-real-inputs``).

Every condition reads the same held-out test staves of the staff build (the piece-hash split contract), padded
with white paper as a user's crop or a rendered page leaves them: the figure that says whether a recognizer
finds its staff (docs/decisions/0019-framing.md). The shipped omr-resnet-bisru and the omr-crnn-bilstm
baseline read with their manifests' reading rules. Lyrics and markings, other engravers and photos join this
table when their data is built (issue 36).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import tensorflow as tf

import zoo
from benchmarks.report import RESULTS, stamp, table, write_section
from zoo import paths
from zoo.datasets import tfrecords
from zoo.metrics import ErrorRates
from zoo.preprocessing import image as staff_image

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


def evaluate(model: zoo.ZooModel, examples: list[tuple[bytes, list[str]]], condition: dict[str, Any],
             batch: int = 16) -> dict[str, Any]:
    rates = ErrorRates()
    for i in range(0, len(examples), batch):
        chunk = examples[i:i + batch]
        staves = [staff_image.normalize(framed(staff_image.decode_image(image), **condition)).numpy()
                  for image, _ in chunk]
        for result, (_, reference) in zip(model.recognize_staves(staves), chunk):
            rates.add(reference, result["tokens"])
    summary = rates.summary()
    return {"ser": round(summary["ser"], 5), "sequence_error_rate": round(summary["sequence_error_rate"], 4),
            "errors": summary["errors"], "reference_tokens": summary["reference_tokens"]}


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
    return (f"## Real inputs: framing (`make bench-real-inputs`)\n\n{r['staves']:,} test staves of "
            f"`{Path(r['data']).name}`, each condition on the same staves.\n\n" + table(header, rows) +
            "\n\n- Target (issue 36): SER ≤ 1.5 % with page margins, while tight stays ≤ 0.5 %.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=paths.data_dir() / "staff")
    parser.add_argument("--limit", type=int, default=None, help="a fixed random subset of the test staves")
    args = parser.parse_args()
    results = run(args.data, args.limit)
    write_section("bench-real-inputs", markdown(results), results, RESULTS)


if __name__ == "__main__":
    main()
