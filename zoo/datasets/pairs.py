"""Audio–sheet snippet pairs (MSMD-style) for cross-modal retrieval.

A staff segment is engraved by Verovio and its MIDI, from the same toolkit, is
synthesized by FluidSynth, so Verovio's timemap ties every note onset to the
notehead drawn in the SVG. For each onset we keep a sheet snippet centred on the
notehead (the page scaled so that the staff is ``staff_height_px`` high, then a
``snippet_height`` × ``snippet_width`` window) and ``excerpt_seconds`` of audio
centred on the onset (16-bit WAV at 22,050 Hz; the log-mel front end of
``zoo.preprocessing.audio`` turns it into ~43 frames/s at training time).

Every pair has two recordings of the same instant: ``audio`` is the snippet's own
part alone (what the sheet shows, as in MSMD, whose piano audio is the whole
page), ``audio_ensemble`` is every part of the piece in the same measures (what a
recording of the piece sounds like), each part's MIDI written by Verovio as the
snippet part's is, so both recordings keep the same timing.
"""
from __future__ import annotations

import base64
import math
import random
import re
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from music21 import stream

from zoo.datasets import build, corpus, engrave, genre, recipes, segments, synth
from zoo.datasets.build import ItemResult, WorkItem
from zoo.preprocessing import audio, snippets

DATASET = "pairs"
SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_TRANSLATE = re.compile(r"translate\(\s*([-\d.]+)[ ,]+([-\d.]+)\s*\)")


def svg_geometry(svg: str) -> tuple[dict[str, tuple[float, float]], tuple[float, float], tuple[float, float]]:
    """Notehead origins by note id, (top, bottom) staff line y, and the page-margin offset (inner SVG units)."""
    root = ET.fromstring(svg)
    heads: dict[str, tuple[float, float]] = {}
    lines: list[float] = []
    offset = (0.0, 0.0)
    for g in root.iter(f"{SVG_NS}g"):
        cls = g.get("class", "")
        if cls == "page-margin":
            m = _TRANSLATE.search(g.get("transform", ""))
            offset = (float(m.group(1)), float(m.group(2))) if m else offset
        elif cls == "staff" and not lines:
            for path in g.findall(f"{SVG_NS}path"):
                ys = re.findall(r"[ML]\s*[-\d.]+\s+([-\d.]+)", path.get("d", ""))
                if len(ys) == 2 and ys[0] == ys[1]:
                    lines.append(float(ys[0]))
        elif cls == "note":
            head = g.find(f"{SVG_NS}g[@class='notehead']/{SVG_NS}use")
            m = _TRANSLATE.search(head.get("transform", "")) if head is not None else None
            if m:
                heads[g.get("data-id") or g.get("id")] = (float(m.group(1)), float(m.group(2)))
    if len(lines) < 5:
        raise engrave.EngravingError("no five-line staff found in the SVG")
    return heads, (min(lines[:5]), max(lines[:5])), offset


def snippet_at(page: np.ndarray, x: float, staff: tuple[float, float], options: dict[str, Any]) -> np.ndarray:
    """A white-padded window of the staff-height-normalized page centred on (x, staff centre)."""
    geometry = (options["staff_height_px"], options["snippet_height"], options["snippet_width"])
    if geometry != (snippets.STAFF_HEIGHT_PX, snippets.SNIPPET_HEIGHT, snippets.SNIPPET_WIDTH):
        raise ValueError(f"the recipe's snippet geometry {geometry} is not the models' "
                         f"{(snippets.STAFF_HEIGHT_PX, snippets.SNIPPET_HEIGHT, snippets.SNIPPET_WIDTH)}")
    return snippets.cut_snippets(page, staff, [x])[0]


def excerpt_at(samples: np.ndarray, t: float, rate: int, seconds: float) -> np.ndarray:
    """``seconds`` of audio centred on ``t``, zero-padded past either end."""
    n = int(round(seconds * rate))
    start = int(round(t * rate)) - n // 2
    out = np.zeros(n, np.float32)
    lo, hi = max(0, start), min(len(samples), start + n)
    if hi > lo:
        out[lo - start: hi - start] = samples[lo:hi]
    return out


def plan(recipe: dict[str, Any]) -> list[WorkItem]:
    """``pieces_per_genre`` pieces of every genre of the genre recipe, grouped by corpus file.

    The genre recipe's ``exclude`` and ``merge_voices`` apply, so a piece has the same id (and split) here as in
    the genre dataset.
    """
    genres = recipes.load_recipe(recipe["genres_recipe"])
    exclude, merged = genres.get("exclude", {}), genres.get("merge_voices", {})
    rng = random.Random(recipe["seed"])
    chosen: dict[tuple[str, str, str, bool], list[int]] = defaultdict(list)
    for name, collections in genres["genres"].items():
        works = [w for w in corpus.works(collections, merged) if not genre.excluded(w[0].relpath, exclude)]
        rng.shuffle(works)
        for f, n in works[: recipe["pieces_per_genre"]]:
            chosen[(str(f.path), f.collection, name, f.merged)].append(n)
    return [WorkItem(build.safe_key(corpus.CorpusFile(Path(p), c).relpath), (p, c, g, sorted(ns), m))
            for (p, c, g, m), ns in sorted(chosen.items())]


def build_item(item: WorkItem, out_dir: Path, options: dict[str, Any]) -> ItemResult:
    path, collection, genre_name, wanted, merged = item.payload
    result = ItemResult(item.key)
    for _, piece in corpus.selected_pieces(corpus.CorpusFile(Path(path), collection, merged), wanted):
        if result.full(options.get("item_limit")):
            break
        try:
            _pairs_of_piece(piece, genre_name, out_dir, options, result)
        except Exception as exc:  # one odd piece never costs the rest of its file: skip it, count why
            result.skip(build.reason_of(exc))
    return result


def _pairs_of_piece(piece: corpus.Piece, genre_name: str, out_dir: Path, options: dict[str, Any],
                    result: ItemResult) -> None:
    rng = random.Random(f"{options['seed']}:{piece.piece_id}")
    parts = list(piece.score.parts)
    part_index = rng.randrange(len(parts))
    lo, hi = options["segment_measures"]
    chunks = segments.measure_chunks(len(segments.part_measures(parts[part_index])), rng, lo, hi)
    if not chunks:
        raise ValueError(f"part has fewer than {lo} measures")
    start, stop = rng.choice(chunks)
    seg = segments.standalone_segment(parts[part_index], start, stop)
    if any(len(c.pitches) > 1 for c in seg.recurse().getElementsByClass("Chord")):
        raise ValueError("segment has chords: pairs are cut from one-voice staves")
    font = rng.choice(options["fonts"])
    tempo = rng.uniform(*options["tempo_range"])
    tk = engrave.load(segments.to_musicxml(seg), font, options["scale"])
    svg = tk.renderToSVG(1)
    page, crop = engrave.rasterize(svg)
    px = engrave.svg_pixel_scale(svg)
    heads, (top, bottom), (ox, oy) = svg_geometry(svg)
    to_px_x = lambda x: (x + ox) * px - crop[0]  # noqa: E731
    to_px_y = lambda y: (y + oy) * px - crop[1]  # noqa: E731
    space = (bottom - top) / 4
    staff = (to_px_y(top), to_px_y(bottom))
    part_midi = base64.b64decode(tk.renderToMIDI())
    midi = synth.scale_tempo(part_midi, tempo)
    program = rng.choice(options["instrument_pool"])
    rate = options["sample_rate"]
    samples = synth.render_midi(synth.set_programs(midi, program), sample_rate=rate, soundfont=options.get("soundfont"))
    onsets = [(e["tstamp"] / 1000.0 / tempo, nid) for e in tk.renderToTimemap() for nid in e.get("on", [])
              if nid in heads]
    if not onsets:
        raise ValueError("no note onsets in the segment")
    pitches = {nid: int(tk.getMIDIValuesForElement(nid).get("pitch", 0)) for _, nid in onsets}
    ensemble = _ensemble_audio(parts, start, stop, part_index, part_midi, program, tempo, rng, font, options)
    seg_id = f"{build.safe_key(piece.piece_id)}-p{part_index}-m{start + 1}-{stop}"
    folder = out_dir / "pairs" / seg_id
    folder.mkdir(parents=True, exist_ok=True)
    keep = sorted(rng.sample(range(len(onsets)), min(options["max_pairs_per_segment"], len(onsets))))
    for k in keep:
        t, nid = onsets[k]
        x = to_px_x(heads[nid][0] + 0.59 * space)  # notehead origin is its left edge
        pair_id = f"{seg_id}-n{k:03d}"
        snippet = snippet_at(page, x, staff, options)
        (folder / f"{pair_id}.png").write_bytes(engrave.encode_png(snippet))
        (folder / f"{pair_id}.wav").write_bytes(
            audio.wav_bytes(excerpt_at(samples, t, rate, options["excerpt_seconds"]), rate))
        (folder / f"{pair_id}.ens.wav").write_bytes(
            audio.wav_bytes(excerpt_at(ensemble, t, rate, options["excerpt_seconds"]), rate))
        result.records.append({
            "id": pair_id, "segment": seg_id, "piece_id": piece.piece_id, "collection": piece.collection,
            "genre": genre_name, "split": piece.split, "onset_seconds": round(t, 4), "font": font,
            "pitch": pitches[nid],
            "x": round(x, 1), "tempo_factor": round(tempo, 3), "program": program,
            "part": part_name(parts[part_index], part_index), "parts": len(parts),
        })
    # The whole segment too, for previews and checks of the alignment.
    (folder / "page.png").write_bytes(engrave.encode_png(page))
    (folder / "audio.wav").write_bytes(audio.wav_bytes(samples, rate))
    (folder / "ensemble.wav").write_bytes(audio.wav_bytes(ensemble, rate))


def part_name(part: stream.Part, index: int) -> str:
    """The part's name as the score gives it (Soprano, Violin I, ...), else its number."""
    name = (part.partName or "").strip()
    if not name and part.getInstrument(returnDefault=False) is not None:
        name = (part.getInstrument().instrumentName or "").strip()
    return name or f"part {index + 1}"


def _ensemble_audio(parts: list[stream.Part], start: int, stop: int, part_index: int, part_midi: bytes,
                    program: int, tempo: float, rng: random.Random, font: str, options: dict[str, Any]) -> np.ndarray:
    """Every part in measures [start, stop), the snippet's part first with its instrument, the others drawn from
    the pool. Each part's MIDI comes from Verovio, as the part audio's does, so the ensemble keeps its timing
    exactly (music21's MIDI of the same measures drifted from it at fermatas and ties in a quarter of the pieces)."""
    files = [part_midi]
    for k, part in enumerate(parts):
        if k == part_index:
            continue
        if len(segments.part_measures(part)) < stop:
            raise ValueError("parts have different measure counts: no ensemble audio")
        tk = engrave.load(segments.to_musicxml(segments.standalone_segment(part, start, stop)), font,
                          options["scale"])
        files.append(base64.b64decode(tk.renderToMIDI()))
    pool = options["instrument_pool"]
    midi = synth.merge_midi([synth.scale_tempo(f, tempo) for f in files])
    programs = [program] + [rng.choice(pool) for _ in range(len(files) - 1)]
    return synth.render_midi(synth.set_programs(midi, programs), sample_rate=options["sample_rate"],
                             soundfont=options.get("soundfont"))


def build_dataset(out_dir: Path, limit: int | None = None, workers: int = 2, fonts: list[str] | None = None,
                  soundfont: str | None = None, recipe: str | Path = DATASET) -> dict[str, Any]:
    """Build (or resume) the pairs dataset under ``out_dir``; returns the build report."""
    out_dir = Path(out_dir)
    options = recipes.load_recipe(recipe)
    options["soundfont"] = soundfont
    # the instrument pool is the genre recipe's, shared by every dataset; read it once, not per piece
    options["instrument_pool"] = [int(p) for p in recipes.load_recipe(options["genres_recipe"])["instrument_pool"]]
    if fonts:
        options["fonts"] = fonts
    synth.soundfont_path(soundfont)  # fail now, with the apt hint, not in every worker
    if limit is not None:
        options["pieces_per_genre"] = max(1, math.ceil(limit / options["max_pairs_per_segment"] / 5))
    start = time.perf_counter()
    results, _ = build.run_items(DATASET, plan(options), build_item, out_dir, options, workers)
    records = sorted((r for res in results for r in res.records), key=lambda r: r["id"])
    report = build.summarize(results, records, ["genre", "font"])
    report.update(dataset=DATASET, limit=limit, segments=len({r["segment"] for r in records}),
                  snippet=[options["snippet_height"], options["snippet_width"]],
                  excerpt_seconds=options["excerpt_seconds"], sample_rate=options["sample_rate"])
    return build.finish(out_dir, DATASET, report, lambda split: _rows(out_dir, records, split), start)


def _rows(out_dir: Path, records: list[dict[str, Any]], split: str):
    for r in records:
        if r["split"] == split:
            folder = out_dir / "pairs" / r["segment"]
            yield {"snippet": (folder / f"{r['id']}.png").read_bytes(),
                   "audio": (folder / f"{r['id']}.wav").read_bytes(),
                   "audio_ensemble": (folder / f"{r['id']}.ens.wav").read_bytes(),
                   "onset_seconds": r["onset_seconds"], "pitch": r["pitch"], "sample_id": r["id"],
                   "piece_id": r["piece_id"], "collection": r["collection"], "genre": r["genre"],
                   "segment": r["segment"], "x": r["x"]}

