"""Genre dataset: balanced 10-second clips of synthesized corpus pieces, with their event sequences.

Which collections make which genre is the recipe ``data/recipes/genres.json``.
Every clip's instruments are drawn from one pool shared by all genres, and its
tempo is varied, so a classifier has to hear the music, not the timbre.
"""
from __future__ import annotations

import fnmatch
import math
import random
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from music21 import midi as m21midi
from music21 import stream
from music21 import tempo as tempo_marks

from zoo.datasets import acoustics, build, corpus, events, recipes, synth, tfrecords
from zoo.datasets.build import ItemResult, WorkItem
from zoo.preprocessing import audio

DATASET = "genre"


def genre_of(collection: str, recipe: dict[str, Any]) -> str:
    for genre, collections in recipe["genres"].items():
        if collection in collections:
            return genre
    raise KeyError(f"collection {collection!r} is in no genre of the recipe")


def excluded(relpath: str, exclude: dict[str, str]) -> bool:
    """Whether a corpus file matches one of the recipe's ``exclude`` globs (glob → why it does not fit its genre)."""
    return any(fnmatch.fnmatch(relpath, pattern) for pattern in exclude)


def plan(recipe: dict[str, Any]) -> list[WorkItem]:
    """Choose pieces and clips per piece so that every genre gets about ``clips_per_genre`` clips.

    A genre with few, long pieces (classical) takes many clips from each; one with
    thousands of short tunes (folk) takes one clip from each of a sample. 20 % more
    pieces than needed are planned, and the build trims every genre to the same count.
    The recipe's ``exclude`` (glob → why) leaves corpus files out; ``merge_voices`` (collection → why) reads
    each file of those collections as one piece whose parts are the file's tunes.
    """
    unknown = set(recipe.get("merge_voices", {})) - {c for cs in recipe["genres"].values() for c in cs}
    if unknown:
        raise ValueError(f"merge_voices names collections no genre uses: {', '.join(sorted(unknown))}")
    rng = random.Random(recipe["seed"])
    cap = recipe["max_clips_per_piece"]
    chosen: dict[tuple[str, str, str, bool], dict[int, int]] = defaultdict(dict)
    exclude, merged = recipe.get("exclude", {}), recipe.get("merge_voices", {})
    for genre, collections in recipe["genres"].items():
        target = clips_wanted(recipe["clips_per_genre"], genre)
        works = [w for w in corpus.works(collections, merged) if not excluded(w[0].relpath, exclude)]
        rng.shuffle(works)
        per_piece = min(cap, max(recipe["min_clips_per_piece"], math.ceil(target / max(1, len(works)))))
        needed = min(len(works), math.ceil(1.2 * target / per_piece))
        for f, n in works[:needed]:
            chosen[(str(f.path), f.collection, genre, f.merged)][n] = per_piece
    return [
        WorkItem(build.safe_key(corpus.CorpusFile(Path(p), c).relpath), (p, c, g, sorted(sel.items()), m))
        for (p, c, g, m), sel in sorted(chosen.items())
    ]


def build_item(item: WorkItem, out_dir: Path, options: dict[str, Any]) -> ItemResult:
    path, collection, genre, selection, merged = item.payload
    wanted = dict(selection)
    result = ItemResult(item.key)
    for index, piece in corpus.selected_pieces(corpus.CorpusFile(Path(path), collection, merged), wanted):
        if result.full(options.get("item_limit")):
            break
        if options.get("splits") and piece.split not in options["splits"]:  # e.g. the test pieces only
            continue
        try:
            _clips_of_piece(piece, genre, wanted[index], out_dir, options, result)
        except Exception as exc:  # music21's MIDI writer trips on some corpus files: skip the piece, count why
            result.skip(build.reason_of(exc))
    return result


def _clips_of_piece(piece: corpus.Piece, genre: str, n_clips: int, out_dir: Path, options: dict[str, Any],
                    result: ItemResult) -> None:
    rng = random.Random(f"{options['seed']}:{piece.piece_id}")
    pool = [int(p) for p in options["instrument_pool"]]
    n_parts = max(1, len(piece.score.parts))
    if rng.random() < options["same_instrument_probability"]:
        programs = [rng.choice(pool)] * n_parts
    else:
        programs = [rng.choice(pool) for _ in range(n_parts)]
    if options.get("program_override") is not None:  # drawn above all the same, so the clips are the same
        programs = [int(options["program_override"])] * n_parts
    tempo = rng.uniform(*options["tempo_range"])
    # a recipe of several sound fonts draws one a piece (after the draws older recipes make, so they build as
    # they did); --soundfont overrides it
    soundfont = options.get("soundfont") or (rng.choice(options["soundfonts"]) if options.get("soundfonts") else None)
    score = _opening(piece.score, n_clips * options["clip_seconds"] * 1.5 + options["clip_seconds"])
    midi_bytes = m21midi.translate.music21ObjectToMidiFile(score).writestr()
    midi_bytes = synth.scale_tempo(synth.set_programs(midi_bytes, programs), tempo)
    rate, clip_s = options["sample_rate"], options["clip_seconds"]
    samples = synth.render_midi(midi_bytes, sample_rate=rate, soundfont=soundfont)
    chain = acoustics.RecordingChain.from_recipe(options.get("audio_effects"))
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak == 0.0:
        raise ValueError("rendered audio is silent")
    samples = 0.9 * samples / peak
    slots = int(len(samples) / rate // clip_s)
    if slots < 1:
        raise ValueError(f"piece shorter than one {clip_s:g}-second clip")
    note_events = events.midi_note_events(midi_bytes)
    folder = out_dir / "clips" / genre
    folder.mkdir(parents=True, exist_ok=True)
    for slot in sorted(rng.sample(range(slots), min(n_clips, slots))):
        start = slot * clip_s
        clip = samples[int(start * rate): int(start * rate) + int(clip_s * rate)]
        if float(np.sqrt(np.mean(clip**2))) < options["min_clip_rms"]:
            result.skip("clip is nearly silent")
            continue
        clip_id = f"{build.safe_key(piece.piece_id)}-t{int(start)}"
        record = {
            "id": clip_id, "piece_id": piece.piece_id, "collection": piece.collection, "genre": genre,
            "split": piece.split, "start_seconds": start, "programs": programs, "tempo_factor": round(tempo, 3),
            "events": events.encode_window(note_events, start, clip_s),
        }
        if options.get("soundfonts"):
            record["soundfont"] = Path(soundfont or synth.soundfont_path()).name
        if chain is not None:  # its own random stream: the clip plan is the same with or without effects
            clip, record["effects"] = acoustics.record(clip, rate, random.Random(f"{options['seed']}:{clip_id}"),
                                                       chain)
        (folder / f"{clip_id}.wav").write_bytes(audio.wav_bytes(clip, rate))
        result.records.append(record)


def _opening(score: stream.Score, seconds: float) -> stream.Score:
    """The first measures of a long piece, enough for ``seconds`` of audio at its notated tempo.

    A quartet movement needs minutes of MIDI export and synthesis for the few clips
    taken from it; its opening serves as well and costs a fraction.
    """
    measures = list(score.parts[0].getElementsByClass(stream.Measure)) if score.parts else []
    marks = score.recurse().getElementsByClass(tempo_marks.MetronomeMark)
    bpm = marks.first().getQuarterBPM() if marks.first() is not None else 120.0
    elapsed = 0.0
    for k, m in enumerate(measures):
        elapsed += m.duration.quarterLength * 60.0 / (bpm or 120.0)
        if elapsed >= seconds and k + 1 < len(measures):
            return score.measures(measures[0].number, measures[k].number)
    return score


def clips_wanted(per_genre: int | dict[str, int], genre: str) -> int:
    """The recipe's ``clips_per_genre``: one count for all genres, or a count per genre."""
    return per_genre[genre] if isinstance(per_genre, dict) else per_genre


def balance(records: list[dict[str, Any]], per_genre: int | dict[str, int], equal: bool = True
            ) -> list[dict[str, Any]]:
    """At most ``per_genre`` clips per genre; with ``equal``, also no more than the smallest genre has.

    Not equal: a genre the corpus has few clips of (Bach chorales are short) no longer caps
    the others, which then get more distinct pieces; training weights the classes instead.
    """
    by_genre: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(records, key=lambda r: r["id"]):
        by_genre[r["genre"]].append(r)
    smallest = min(map(len, by_genre.values()), default=0)
    out = []
    for genre, rows in sorted(by_genre.items()):
        random.Random(genre).shuffle(rows)
        n = clips_wanted(per_genre, genre)
        out.extend(rows[:min(n, smallest) if equal else n])
    return sorted(out, key=lambda r: r["id"])


def build_dataset(out_dir: Path, limit: int | None = None, workers: int = 2, soundfont: str | None = None,
                  recipe: str | Path = "genres") -> dict[str, Any]:
    """Build (or resume) the genre dataset under ``out_dir``; returns the build report."""
    out_dir = Path(out_dir)
    options = recipes.load_recipe("genres" if recipe == DATASET else recipe)
    options["soundfont"] = soundfont
    for path in [soundfont] if soundfont else options.get("soundfonts") or [None]:
        synth.soundfont_path(path)  # fail now, with the apt hint, not in every worker
    acoustics.RecordingChain.from_recipe(options.get("audio_effects"))  # a bad recipe stops here, not per clip
    if limit is not None:  # a small build: a few clips of a few pieces of every genre
        per_genre = max(1, math.ceil(limit / len(options["genres"])))
        options.update(clips_per_genre=per_genre, max_clips_per_piece=min(2, per_genre),
                       min_clips_per_piece=min(2, per_genre))
    start = time.perf_counter()
    results, _ = build.run_items(DATASET, plan(options), build_item, out_dir, options, workers)
    records = balance([r for res in results for r in res.records], options["clips_per_genre"],
                      options.get("equal_genres", True))
    report = build.summarize(results, records, ["genre", "collection"] + (["soundfont"] if options.get("soundfonts")
                                                                          and not soundfont else []))
    if options.get("audio_effects"):
        report["effects"] = dict(Counter(e for r in records for e in r.get("effects", [])).most_common())
    report.update(dataset=DATASET, limit=limit, clip_seconds=options["clip_seconds"],
                  sample_rate=options["sample_rate"],
                  pieces=len({r["piece_id"] for r in records}),
                  pieces_per_split={s: len({r["piece_id"] for r in records if r["split"] == s})
                                    for s in tfrecords.SPLITS})
    return build.finish(out_dir, DATASET, report, lambda split: _rows(out_dir, records, split), start)


def _rows(out_dir: Path, records: list[dict[str, Any]], split: str):
    for r in records:
        if r["split"] == split:
            yield {"audio": (out_dir / "clips" / r["genre"] / f"{r['id']}.wav").read_bytes(), "genre": r["genre"],
                   "events": r["events"], "sample_id": r["id"], "piece_id": r["piece_id"],
                   "collection": r["collection"], "programs": r["programs"], "start_seconds": r["start_seconds"]}
