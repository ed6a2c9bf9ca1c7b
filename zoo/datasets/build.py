"""A parallel, resumable build loop shared by every dataset builder.

Work is split into items (usually one corpus file). A worker process handles an
item, writes its outputs, and records what it made and what it skipped (with
reasons) in ``items/<key>.json``; on a re-run, items with a record are skipped.
The report and the TFRecords are derived from those records, so an interrupted
build loses at most the items that were in flight.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from zoo.datasets import lifetime


@dataclass
class ItemResult:
    key: str
    records: list[dict[str, Any]] = field(default_factory=list)
    skips: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    complete: bool = True  # False when the item stopped early for a --limit build

    def full(self, limit: int | None) -> bool:
        """Stop the item here (and mark it incomplete) once a --limit build has enough from it."""
        if limit is not None and len(self.records) >= limit:
            self.complete = False
            return True
        return False

    def skip(self, reason: str, n: int = 1) -> None:
        self.skips[reason] = self.skips.get(reason, 0) + n


@dataclass(frozen=True)
class WorkItem:
    key: str
    payload: Any


def safe_key(text: str) -> str:
    """A filename-safe, readable id for a piece path like ``essenFolksong/altdeu10.abc#3``."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def normalize_reason(text: str) -> str:
    """Countable reasons: numbers, object reprs (``<music21.note.Note A>``) and pitch lists folded away."""
    text = re.sub(r"\[[^\[\]]*\]", "[…]", re.sub(r"<[^<>]*>", "<…>", text.split("\n")[0]))
    return re.sub(r"\d+", "N", text)[:100]


def reason_of(exc: BaseException) -> str:
    """A short, countable skip reason: the exception type and the first words of its message."""
    message = normalize_reason(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _run_one(args: tuple[Callable[..., ItemResult], WorkItem, Path, dict[str, Any]]) -> ItemResult:
    worker, item, out_dir, options = args
    start = time.perf_counter()
    try:
        result = worker(item, out_dir, options)
    except Exception as exc:  # one bad file never kills the build
        result = ItemResult(item.key)
        result.skip(f"item failed: {reason_of(exc)}")
        if options.get("debug"):
            traceback.print_exc()
    result.seconds = time.perf_counter() - start
    record_path = out_dir / "items" / f"{item.key}.json"
    tmp = record_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(result)), encoding="utf-8")
    tmp.replace(record_path)  # atomic: a half-written record never looks finished
    return result


# A recipe's prose, not a setting: rewording it changes no sample, so it neither blocks resuming a build
# nor goes into a model's manifest.
NOT_SETTINGS = ("description",)


def read_build_config(out_dir: Path, drop: tuple[str, ...] = NOT_SETTINGS) -> dict[str, Any]:
    """The recipe a built dataset was made with ({} if unknown), for the manifests of models trained on it."""
    path = Path(out_dir) / "build_config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {k: v for k, v in config.items() if k not in drop}


def _check_same_build(out_dir: Path, name: str, options: dict[str, Any]) -> None:
    config_path = out_dir / "build_config.json"
    config = json.loads(json.dumps({"dataset": name, **options}, sort_keys=True, default=str))
    previous = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else None
    if previous is not None:
        changed = sorted(k for k in set(previous) | set(config)
                         if previous.get(k) != config.get(k) and k not in NOT_SETTINGS)
        if changed:
            raise ValueError(
                f"{out_dir} holds a {previous.get('dataset')} build made with other settings ({', '.join(changed)}); "
                "resume it with the same settings, or choose another --out"
            )
    if previous != config:  # a new build, or its recipe reworded: record the current text
        config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def load_results(out_dir: Path) -> list[ItemResult]:
    return [ItemResult(**json.loads(p.read_text(encoding="utf-8"))) for p in sorted((out_dir / "items").glob("*.json"))]


def run_items(
    name: str,
    items: Iterable[WorkItem],
    worker: Callable[..., ItemResult],
    out_dir: Path,
    options: dict[str, Any],
    workers: int = 2,
    limit: int | None = None,
) -> tuple[list[ItemResult], float]:
    """Run ``worker`` over the items not done yet; stop early once ``limit`` records exist.

    ``options`` (the recipe) is kept in ``build_config.json``: resuming a build made
    with other options would mix two datasets, so it is refused rather than overwritten.
    """
    (out_dir / "items").mkdir(parents=True, exist_ok=True)
    _check_same_build(out_dir, name, options)
    previous = load_results(out_dir)
    done = {r.key for r in previous if r.complete or limit is not None}
    items = list(items)
    todo = [it for it in items if it.key not in done]
    have = sum(len(r.records) for r in previous)
    options = {**options, "item_limit": limit}
    start = time.perf_counter()
    if todo and (limit is None or have < limit):
        ctx = mp.get_context("spawn")  # workers must not inherit a half-initialised TensorFlow
        bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=f"build {name}", unit="item")
        bar.set_postfix(records=have)
        with ctx.Pool(max(1, workers), maxtasksperchild=50, initializer=lifetime.watch_parent) as pool:
            for result in pool.imap_unordered(_run_one, [(worker, it, out_dir, options) for it in todo]):
                have += len(result.records)
                bar.update(1)
                bar.set_postfix(records=have)
                if limit is not None and have >= limit:
                    pool.terminate()
                    break
        bar.close()
    return load_results(out_dir), time.perf_counter() - start


def summarize(results: list[ItemResult], records: list[dict[str, Any]], keys: Iterable[str]) -> dict[str, Any]:
    """Counts per split and per each of ``keys`` (e.g. font, collection, genre) plus skip reasons."""
    skips: Counter[str] = Counter()
    for r in results:
        for reason, n in r.skips.items():
            skips[normalize_reason(reason)] += n
    report: dict[str, Any] = {
        "items": len(results),
        "records": len(records),
        "per_split": dict(Counter(r["split"] for r in records)),
    }
    for k in keys:
        report[f"per_{k}"] = dict(sorted(Counter(str(r[k]) for r in records).items()))
        report[f"per_split_{k}"] = {
            s: dict(sorted(Counter(str(r[k]) for r in records if r["split"] == s).items()))
            for s in ("train", "validation", "test")
        }
    report["skips"] = dict(skips.most_common())
    report["skipped_total"] = sum(skips.values())
    report["item_cpu_seconds"] = round(sum(r.seconds for r in results), 1)
    return report


def write_report(out_dir: Path, report: dict[str, Any]) -> Path:
    path = out_dir / "build_report.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def finish(out_dir: Path, dataset: str, report: dict[str, Any],
           rows: Callable[[str], Iterable[dict[str, Any]]], start: float) -> dict[str, Any]:
    """Write every split's TFRecords from ``rows(split)``, stamp the wall time and save the report."""
    from zoo.datasets import tfrecords  # keeps this module free of TensorFlow

    report["tfrecords"] = {split: tfrecords.write_split(out_dir, dataset, split, rows(split))
                           for split in tfrecords.SPLITS}
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    write_report(out_dir, report)
    return report
