"""Staff dataset: PrIMuS-like engraved incipits with semantic labels, from the music21 corpus.

Each sample is written in the PrIMuS package layout (``samples/ID/ID.png``,
``ID.semantic``, ``ID.musicxml``) and, at the end of the build, into TFRecords.
"""
from __future__ import annotations

import math
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from zoo.datasets import build, corpus, engrave, engravers, markings, recipes, segments, tfrecords
from zoo.datasets.build import ItemResult, WorkItem
from zoo.notation.encoder import stream_to_tokens
from zoo.notation.readers import write_semantic
from zoo.notation.tokens import MUSIC_KINDS, kinds_of
from zoo.notation.vocabulary import load_vocabulary

DATASET = "staff"
# what a recipe's "fonts" may name: Verovio's fonts, and the other engravers (each with its own font)
DRAWERS: tuple[str, ...] = engrave.FONTS + engravers.ENGRAVERS


def work_items(recipe: dict[str, Any]) -> list[WorkItem]:
    """One item per corpus file, collections interleaved so small --limit builds see them all."""
    per_collection = [corpus.collection_files(c) for c in recipe["collections"]]
    rng = random.Random(recipe["seed"])
    for files in per_collection:
        rng.shuffle(files)
    items = []
    for i in range(max(map(len, per_collection), default=0)):
        for files in per_collection:
            if i < len(files):
                items.append(WorkItem(build.safe_key(files[i].relpath), (str(files[i].path), files[i].collection)))
    return items


def build_item(item: WorkItem, out_dir: Path, options: dict[str, Any]) -> ItemResult:
    path, collection = item.payload
    result = ItemResult(item.key)
    fonts = options["fonts"]
    rates = markings.MarkingRates.from_recipe(options.get("markings"))
    lo, hi = options["segment_measures"]
    for piece in corpus.pieces_in(corpus.CorpusFile(Path(path), collection)):
        if result.full(options.get("item_limit")):
            break
        rng = random.Random(f"{options['seed']}:{piece.piece_id}")
        for part_index, part in enumerate(piece.score.parts):
            chunks = segments.measure_chunks(len(segments.part_measures(part)), rng, lo, hi,
                                             options["max_segments_per_part"])
            for start, stop in chunks:
                sample_id = f"{build.safe_key(piece.piece_id)}-p{part_index}-m{start + 1}-{stop}"
                font = fonts[rng.randrange(len(fonts))]
                marked = rates is not None and rng.random() < rates.probability
                try:
                    seg, drawing = _incipit_variation(
                        segments.standalone_segment(part, start, stop, keep_markings=marked), rng, options)
                    record = _make_sample(seg, sample_id, font, out_dir, options,
                                          marking=(rng, rates) if marked else None, **drawing)
                except Exception as exc:  # EncodingError, EngravingError, music21 export errors: count why
                    result.skip(build.reason_of(exc))
                    continue
                record.update(piece_id=piece.piece_id, collection=collection, split=piece.split, part=part_index,
                              measures=[start, stop])
                result.records.append(record)
    return result


def _incipit_variation(seg, rng: random.Random, options: dict[str, Any]) -> tuple[Any, dict[str, float]]:
    """Optional recipe variations toward RISM incipits: ``transpose`` ({probability,
    max_accidentals}: another key signature), ``clef_variation`` (probability of
    another clef suiting the range) and ``multirest`` ({probability, max_count[, width]}: an
    opening multi-measure rest of log-uniform length, drawn ``width`` = [low, high] MEI units
    long, uniform, instead of Verovio's default). Recipes without them draw nothing extra,
    so their builds stay reproducible. Returns the segment and the engraving options drawn."""
    transpose = options.get("transpose")
    if transpose and rng.random() < transpose["probability"]:
        if not segments.transpose_to_key(seg, rng, transpose.get("max_accidentals", 6)):
            # counted as a skip, so a build never passes an unmoved staff off as a transposed one
            raise ValueError("segment has no single opening key signature to transpose")
    if options.get("clef_variation") and rng.random() < options["clef_variation"]:
        segments.reclef(seg, rng)
    multirest = options.get("multirest")
    if multirest and rng.random() < multirest["probability"]:
        count = int(round(math.exp(rng.uniform(math.log(2), math.log(multirest["max_count"])))))
        seg = segments.with_multirest(seg, count)
        if "width" in multirest:
            low, high = multirest["width"]
            return seg, {"multirest_width": round(rng.uniform(low, high), 1)}
    return seg, {}


def _check_multirest_width(options: dict[str, Any]) -> None:
    """A bad range would otherwise surface as one skipped segment per multi-measure rest, deep in a long build."""
    width = (options.get("multirest") or {}).get("width")
    if width is not None and not (isinstance(width, list) and len(width) == 2 and 0 < width[0] <= width[1]):
        raise ValueError(f"recipe multirest width must be [low, high] MEI units with 0 < low <= high, got {width}")


def _check_engravers(names: list[str]) -> None:
    """A missing program would otherwise surface as every one of its segments skipped, deep in a long build."""
    missing = [n for n in names if n in engravers.ENGRAVERS and not engravers.available(n)]
    if missing:
        raise ValueError(f"the recipe engraves with {', '.join(missing)}, which is not installed: run `make setup`")


def _make_sample(seg, sample_id: str, font: str, out_dir: Path, options: dict[str, Any],
                 multirest_width: float | None = None,
                 marking: tuple[random.Random, markings.MarkingRates] | None = None) -> dict[str, Any]:
    """Label, engrave and write one segment. With ``marking`` the label is read from the segment without its
    markings, and then more are drawn on it (:mod:`zoo.datasets.markings`): the label stays the notes'."""
    tokens = stream_to_tokens(segments.cleaned(seg) if marking else seg)
    if len(tokens) > options["max_tokens"]:
        raise ValueError(f"segment longer than {options['max_tokens']} tokens")
    kinds = kinds_of(tokens)
    if "timeSignature" not in kinds:
        # music21 re-bars unmetered music at 4/4 on export: the image would disagree with the label
        raise ValueError("segment has no time signature")
    if not kinds & MUSIC_KINDS:
        raise ValueError("segment has no notes or rests")
    drawn = markings.decorate(seg, *marking) if marking else {"kinds": []}
    numbers = bool(drawn.get("measure_numbers"))
    xml = segments.to_musicxml(seg)
    if font in engravers.ENGRAVERS:
        if "multirest" in kinds:  # how long each program draws one is not under the recipe's control
            raise ValueError(f"multi-measure rests are engraved by Verovio only, not {font}")
        staff = engravers.engrave(xml, font, measure_numbers=numbers)
    else:
        staff = engrave.engrave(xml, font, options["scale"], multirest_width=multirest_width, measure_numbers=numbers)
    folder = out_dir / "samples" / sample_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{sample_id}.png").write_bytes(staff.png)
    (folder / f"{sample_id}.musicxml").write_text(xml, encoding="utf-8")
    write_semantic(tokens, folder / f"{sample_id}.semantic")
    record = {"id": sample_id, "font": font, "tokens": tokens, "width": staff.width, "height": staff.height}
    if marking:
        record["markings"] = drawn["kinds"]
    return record


def build_dataset(
    out_dir: Path,
    limit: int | None = None,
    workers: int = 2,
    fonts: list[str] | None = None,
    recipe: str | Path = DATASET,
) -> dict[str, Any]:
    """Build (or resume) the staff dataset under ``out_dir``; returns the build report."""
    out_dir = Path(out_dir)
    options = recipes.load_recipe(recipe)
    _check_multirest_width(options)
    _check_engravers(options["fonts"] if not fonts else fonts)
    if fonts:
        unknown = set(fonts) - set(DRAWERS)
        if unknown:
            raise ValueError(f"unknown fonts {sorted(unknown)}; choose from {', '.join(DRAWERS)}")
        options["fonts"] = fonts
    start = time.perf_counter()
    results, _ = build.run_items(DATASET, work_items(options), build_item, out_dir, options, workers, limit)
    records = sorted((r for res in results for r in res.records), key=lambda r: r["id"])
    if limit is not None:
        records = records[:limit]
    report = build.summarize(results, records, ["collection", "font"])
    report.update(dataset=DATASET, limit=limit, vocabulary=_vocabulary_report(records))
    if options.get("markings"):
        report["markings"] = {"decorated": sum("markings" in r for r in records),
                              "kinds": dict(Counter(k for r in records for k in r.get("markings", [])).most_common())}
    return build.finish(out_dir, DATASET, report, lambda split: _rows(out_dir, records, split), start)


def _rows(out_dir: Path, records: list[dict[str, Any]], split: str):
    for r in records:
        if r["split"] == split:
            png = (out_dir / "samples" / r["id"] / f"{r['id']}.png").read_bytes()
            yield {"image": png, "height": r["height"], "width": r["width"], "tokens": r["tokens"],
                   "sample_id": r["id"], "piece_id": r["piece_id"], "collection": r["collection"], "font": r["font"]}


def _vocabulary_report(records: list[dict[str, Any]]) -> dict[str, Any]:
    counts = Counter(t for r in records for t in r["tokens"])
    vocab = set(load_vocabulary())
    oov = {t: n for t, n in counts.most_common() if t not in vocab}
    return {
        "distinct_tokens": len(counts),
        "primus_vocabulary_size": len(vocab),
        "primus_tokens_seen": len(set(counts) & vocab),
        "coverage_of_primus_vocabulary": round(len(set(counts) & vocab) / len(vocab), 4),
        "out_of_primus_vocabulary": oov,
        "tokens_total": sum(counts.values()),
    }


DISTORTED_SUFFIX = "_distorted"
DISTORTION_SEED = 2018  # Camera-PrIMuS year; fixed so the distorted test split is the same everywhere


def write_distorted_split(out_dir: Path, split: str = "test", seed: int = DISTORTION_SEED) -> int:
    """A Camera-PrIMuS-style copy of a split (``tfrecords/<split>_distorted/``), deterministic per seed."""
    from zoo.preprocessing.distortions import DistortionConfig, distort_png_bytes

    config = DistortionConfig.camera()

    def rows():
        for i, ex in enumerate(tfrecords.iter_examples(out_dir, split, DATASET)):
            row = {k: (v.tolist() if k == "tokens" else v) for k, v in ex.items()}
            row["image"] = distort_png_bytes(bytes(ex["image"]), seed, config, index=i)
            yield row

    return tfrecords.write_split(out_dir, DATASET, split + DISTORTED_SUFFIX, rows())
