"""Compare genre-cnn training runs on one build: each run alone, every pair averaged, and the clips most runs misread.

Validation accuracy of one run moves by points between epochs and seeds, so whether a new run beats the shipped
model, and whether the remaining test errors are a model's or the data's, is easier to see across runs:
a clip that every run misreads is a question for the data (or the genre labels), not for the next training.

    python -m benchmarks.genre_runs pretrained runs/genre-cos-ema runs/genre-gru64 [--data data/cache/genre-dance]
"""
from __future__ import annotations

import argparse
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import zoo
from benchmarks.report import RESULTS, table
from zoo import paths
from zoo.models.genre_cnn import GENRES
from zoo.training import genre as train_genre


def compare(data_dir: Path, runs: list[str]) -> dict[str, Any]:
    splits = {s: train_genre.load_split(data_dir, s) for s in ("validation", "test")}
    scores = {}
    for run in runs:
        net = zoo.load("genre-cnn", weights=run).keras_model
        scores[run] = {s: net.predict(split.log_mel, batch_size=64, verbose=0) for s, split in splits.items()}
    alone = {run: {s: train_genre.scored(scores[run][s], splits[s]) for s in splits} for run in runs}
    pairs = {f"{a} + {b}": {s: train_genre.accuracies((scores[a][s] + scores[b][s]) / 2, splits[s].labels,
                                                      splits[s].piece_ids)["clip_accuracy"] for s in splits}
             for a, b in itertools.combinations(runs, 2)}
    misread = Counter(e["clip"] for run in runs for e in alone[run]["test"]["errors"])
    test = splits["test"]
    common = [{"clip": clip, "true": GENRES[test.labels[test.sample_ids.index(clip)]], "runs_wrong": n,
               "predicted": Counter(e["predicted"] for run in runs for e in alone[run]["test"]["errors"]
                                    if e["clip"] == clip).most_common(1)[0][0]}
              for clip, n in misread.most_common() if n > len(runs) / 2]
    return {"data": str(data_dir), "runs": {run: {s: {k: v for k, v in alone[run][s].items() if k != "errors"}
                                                  for s in splits} for run in runs},
            "pairs": pairs, "misread_by_most": common}


def markdown(r: dict[str, Any]) -> str:
    rows = [[run, f"{m['validation']['clip_accuracy']:.3f}", f"{m['test']['clip_accuracy']:.3f}",
             f"{m['test']['piece_accuracy']:.3f}"] for run, m in r["runs"].items()]
    rows += [[pair, f"{m['validation']:.3f}", f"{m['test']:.3f}", ""] for pair, m in r["pairs"].items()]
    common = [[c["clip"], c["true"], c["predicted"], str(c["runs_wrong"])] for c in r["misread_by_most"]]
    return "\n".join([table(["run (pairs: mean of scores)", "validation clip", "test clip", "test piece"], rows), "",
                      f"Test clips misread by most of the {len(r['runs'])} runs: {len(common)}", "",
                      table(["clip", "true", "most often predicted", "runs wrong"], common)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders (weights + manifest) or 'pretrained'")
    parser.add_argument("--data", type=Path, default=paths.data_dir() / "genre-dance")
    args = parser.parse_args()
    r = compare(args.data, args.runs)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "genre-runs.json").write_text(json.dumps(r, indent=2) + "\n")
    print(markdown(r))


if __name__ == "__main__":
    main()
