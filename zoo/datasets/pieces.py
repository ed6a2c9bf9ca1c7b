"""Held-out pieces as a user has them: a score file and a recording of it, for piece identification.

For test-split pieces (the piece-hash split contract) of every genre of the pairs recipe, the piece's opening (about
``seconds`` of music) is written as MusicXML, and the same MusicXML is played by Verovio's MIDI through FluidSynth
with instruments from the shared pool and a tempo drawn from the pairs recipe's range. ``bench-retrieval`` indexes
the scores and queries with excerpts of the recordings, and the reverse. Resumable: a piece whose two files exist is
kept.
"""
from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import verovio
from music21 import musicxml
from tqdm import tqdm

from zoo.datasets import build, corpus, engrave, genre, recipes, synth
from zoo.preprocessing import audio
from zoo.search.sources import PAGE_OPTIONS

DATASET = "pieces"


def _candidates(recipe: dict[str, Any], rng: random.Random) -> dict[str, list[tuple[corpus.CorpusFile, int]]]:
    genres = recipes.load_recipe(recipe["genres_recipe"])
    exclude, merged = genres.get("exclude", {}), genres.get("merge_voices", {})
    out = {}
    for name, collections in genres["genres"].items():
        works = [w for w in corpus.works(collections, merged) if not genre.excluded(w[0].relpath, exclude)]
        likely = [(f, n) for f, n in works if corpus.split_of(
            f.relpath if f.merged or corpus.works_in(f) == 1 else f"{f.relpath}#{n}") == "test"]
        rng.shuffle(likely)
        out[name] = likely
    return out


def build_pieces(out_dir: Path, per_genre: int = 26, seconds: float = 40.0, seed: int = 20261207,
                 genres: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Write ``scores/<key>.musicxml`` and ``recordings/<key>.wav`` for ``per_genre`` test pieces of each genre (or
    of ``genres``); returns (and writes to ``pieces.jsonl``) one row per piece."""
    recipe = recipes.load_recipe("pairs")
    pool = [int(p) for p in recipes.load_recipe(recipe["genres_recipe"])["instrument_pool"]]
    rng = random.Random(seed)
    (out_dir / "scores").mkdir(parents=True, exist_ok=True)
    (out_dir / "recordings").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    tk = engrave.new_toolkit()
    tk.setOptions(PAGE_OPTIONS)
    for name, works in _candidates(recipe, rng).items():
        if genres is not None and name not in genres:
            continue
        by_file: dict[corpus.CorpusFile, list[int]] = {}
        for f, n in works:  # a collection file is parsed once for all its works (an Essen file holds hundreds)
            by_file.setdefault(f, []).append(n)
        have = 0
        bar = tqdm(by_file.items(), desc=f"pieces {name}", unit="file", leave=False)
        for f, numbers in bar:
            if have >= per_genre:
                break
            try:
                for _, piece in corpus.selected_pieces(f, numbers):
                    if have >= per_genre:
                        break
                    try:
                        row = _one_piece(piece, name, out_dir, seconds, pool, recipe, tk)
                    except Exception as exc:  # noqa: BLE001 - a piece music21 or Verovio cannot render is skipped
                        bar.write(f"skipped {piece.piece_id}: {build.reason_of(exc)}")
                        continue
                    if row is not None:
                        rows.append(row)
                        have += 1
            except Exception as exc:  # noqa: BLE001 - a file music21 cannot parse is skipped
                bar.write(f"skipped {f.relpath}: {build.reason_of(exc)}")
    (out_dir / "pieces.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rows


def _one_piece(piece: corpus.Piece, genre_name: str, out_dir: Path, seconds: float, pool: list[int],
               recipe: dict[str, Any], tk: verovio.toolkit) -> dict[str, Any] | None:
    if piece.split != "test":
        return None
    key = build.safe_key(piece.piece_id)
    score_path, wav_path = out_dir / "scores" / f"{key}.musicxml", out_dir / "recordings" / f"{key}.wav"
    rng = random.Random(piece.piece_id)
    tempo = rng.uniform(*recipe["tempo_range"])
    if not (score_path.exists() and wav_path.exists()):
        xml = musicxml.m21ToXml.GeneralObjectExporter(genre._opening(piece.score, seconds)).parse().decode("utf-8")
        if not tk.loadData(xml):
            raise ValueError("Verovio cannot load the opening")
        parts = max(1, len(piece.score.parts))
        programs = [rng.choice(pool)] * parts if rng.random() < 0.5 else [rng.choice(pool) for _ in range(parts)]
        midi = synth.scale_tempo(synth.set_programs(base64.b64decode(tk.renderToMIDI()), programs), tempo)
        samples = synth.render_midi(midi, sample_rate=audio.SAMPLE_RATE)
        peak = float(np.abs(samples).max()) if samples.size else 0.0
        if peak == 0.0:
            raise ValueError("the recording is silent")
        score_path.write_text(xml, encoding="utf-8")
        wav_path.write_bytes(audio.wav_bytes(0.9 * samples / peak, audio.SAMPLE_RATE))
    return {"key": key, "piece_id": piece.piece_id, "genre": genre_name, "score": score_path.name,
            "recording": wav_path.name, "tempo_factor": round(tempo, 3)}
