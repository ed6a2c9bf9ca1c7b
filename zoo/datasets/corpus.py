"""The music21 corpus as a list of pieces with stable ids and a fixed split contract.

``piece_id`` is the corpus path relative to the corpus root, plus ``#N`` for the
N-th work (1-based) of a multi-work file such as an ABC collection. The split is
``int(sha1(piece_id), 16) % 10``: 0 → test, 1 → validation, else train — so a
piece and every segment, clip or pair cut from it always land in one split.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from music21 import corpus, stream

from zoo.notation.readers import parse_file

SPLITS: tuple[str, ...] = ("train", "validation", "test")
# When one work ships in several formats (beethoven/opus18no1/movement1.{krn,mxl}) only the
# first of this order is kept, so a work cannot land in two splits under two ids.
SCORE_SUFFIXES: tuple[str, ...] = (".mxl", ".musicxml", ".xml", ".mei", ".krn", ".abc")


def corpus_root() -> Path:
    return Path(corpus.__file__).resolve().parent


def split_of(piece_id: str) -> str:
    bucket = int(hashlib.sha1(piece_id.encode("utf-8")).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


@dataclass(frozen=True)
class CorpusFile:
    """One file of the corpus; it may hold several works.

    ``merged``: the file's works are the voices of one piece (music21's Josquin ABC files hold each voice of a
    chanson as its own ``X:`` tune), so it is read as a single work whose parts are those voices.
    """

    path: Path
    collection: str
    merged: bool = False

    @property
    def relpath(self) -> str:
        return self.path.resolve().relative_to(corpus_root()).as_posix()


@dataclass
class Piece:
    piece_id: str
    collection: str
    score: stream.Score

    @property
    def split(self) -> str:
        return split_of(self.piece_id)


def collection_files(collection: str, merged: bool = False) -> list[CorpusFile]:
    """Score files of one corpus collection (a top-level corpus folder), sorted for determinism."""
    best: dict[Path, Path] = {}
    for p in map(Path, corpus.getComposer(collection)):
        suffix = p.suffix.lower()
        if suffix not in SCORE_SUFFIXES:
            continue
        stem = p.with_suffix("")
        if stem not in best or SCORE_SUFFIXES.index(suffix) < SCORE_SUFFIXES.index(best[stem].suffix.lower()):
            best[stem] = p
    return [CorpusFile(p, collection, merged) for p in sorted(best.values())]


def pieces_in(file: CorpusFile) -> Iterator[Piece]:
    """Parse a corpus file and yield its works (an Opus yields one piece per score, or one in all if merged)."""
    parsed = parse_file(file.path)
    if isinstance(parsed, stream.Opus) and file.merged:
        yield Piece(file.relpath, file.collection, _with_measures(parsed.mergeScores()))
    elif isinstance(parsed, stream.Opus):
        for n, score in enumerate(parsed.scores, start=1):
            yield Piece(f"{file.relpath}#{n}", file.collection, _with_measures(score))
    else:
        score = parsed if isinstance(parsed, stream.Score) else stream.Score([parsed])
        yield Piece(file.relpath, file.collection, _with_measures(score))


def selected_pieces(file: CorpusFile, wanted: Iterable[int]) -> Iterator[tuple[int, Piece]]:
    """The works of ``file`` whose 1-based index is in ``wanted``; the file is parsed once."""
    wanted = set(wanted)
    for index, piece in enumerate(pieces_in(file), start=1):
        if index in wanted:
            yield index, piece


def _with_measures(score: stream.Score) -> stream.Score:
    """Some ABC voices (josquin) come without bar lines; bar them by their time signature."""
    for part in list(score.parts):
        if not part.getElementsByClass(stream.Measure) and part.recurse().notesAndRests:
            score.replace(part, part.makeMeasures())
    return score


def works_in(file: CorpusFile) -> int:
    """Works in a file without parsing it: ABC collections number theirs with ``X:`` lines."""
    if file.path.suffix.lower() == ".abc" and not file.merged:
        text = file.path.read_text(encoding="utf-8", errors="replace")
        return max(1, len(re.findall(r"^X:", text, flags=re.MULTILINE)))
    return 1


def works(collections: list[str], merged: Collection[str] = ()) -> list[tuple[CorpusFile, int]]:
    """Every (file, 1-based work index) of the collections, in a stable order; files of the ``merged``
    collections count as one work each (:class:`CorpusFile`)."""
    return [(f, n) for c in collections for f in collection_files(c, c in merged)
            for n in range(1, works_in(f) + 1)]
