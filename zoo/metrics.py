"""Quality metrics: symbol error rate (edit distance / reference length) with a breakdown by token type, and
retrieval ranks (recall@k, MRR)."""
from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from zoo.notation.theory import accidental_source
from zoo.notation.tokens import Token, parse

CATEGORIES = ("pitch", "duration", "clef/key/time", "barline", "rest", "other")
# A misread accidental by where the staff shows it (zoo.notation.theory.accidental_source).
ACCIDENTAL_KINDS = {"key signature": "accidental from the key signature", "carried": "accidental carried in the bar",
                    "on the note": "accidental printed on the note"}
PITCH_KINDS = (*ACCIDENTAL_KINDS.values(), "position", "note missing or extra")
# Verovio draws a rest of up to 15 bars as church-rest symbols, whose count can be read off their shapes, and a longer
# one as an H-bar whose count is only in the number printed above it (PrIMuS' multirest-23 fixture is one).
MULTIREST_SYMBOLS_UP_TO = 15
MULTIREST_GROUPS = (f"2-{MULTIREST_SYMBOLS_UP_TO} bars", f"{MULTIREST_SYMBOLS_UP_TO + 1}+ bars")
MULTIREST_READINGS = ("right", "other count", "missed")


_CATEGORY = {"clef": "clef/key/time", "keySignature": "clef/key/time", "timeSignature": "clef/key/time",
             "barline": "barline", "rest": "rest", "multirest": "rest", "note": "pitch", "gracenote": "pitch"}


def token_category(token: str) -> str:
    parsed = parse(token)
    return _CATEGORY.get(parsed.kind, "other") if parsed is not None else "other"


def _note(token: str | None) -> Token | None:
    parsed = parse(token) if token is not None else None
    return parsed if parsed is not None and parsed.is_note else None


def edit_ops(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[str, str | None, str | None]]:
    """Levenshtein alignment as (op, ref token, hyp token), op in match/sub/del/ins.

    Among alignments with the fewest edits, the one pairing tokens of the same kind is
    chosen (cost = (edits, cross-kind substitutions)), so error types are counted sensibly.
    """
    n, m = len(ref), len(hyp)

    def sub_cost(i: int, j: int) -> tuple[int, int]:
        if ref[i] == hyp[j]:
            return (0, 0)
        return (1, int(token_category(ref[i]) != token_category(hyp[j])))

    def add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
        return (a[0] + b[0], a[1] + b[1])

    d = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        d[i][0] = (i, 0)
    for j in range(1, m + 1):
        d[0][j] = (j, 0)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(add(d[i - 1][j], (1, 0)), add(d[i][j - 1], (1, 0)),
                          add(d[i - 1][j - 1], sub_cost(i - 1, j - 1)))
    ops, i, j = [], n, m
    while i or j:
        if i and j and d[i][j] == add(d[i - 1][j - 1], sub_cost(i - 1, j - 1)):
            ops.append(("match" if ref[i - 1] == hyp[j - 1] else "sub", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and d[i][j] == add(d[i - 1][j], (1, 0)):
            ops.append(("del", ref[i - 1], None))
            i -= 1
        else:
            ops.append(("ins", None, hyp[j - 1]))
            j -= 1
    return ops[::-1]


@dataclass
class ErrorRates:
    """Accumulates edit distances over a test set."""

    errors: int = 0
    reference_tokens: int = 0
    sequences: int = 0
    wrong_sequences: int = 0
    by_category: Counter = field(default_factory=Counter)
    pitch_kinds: Counter = field(default_factory=Counter)
    multirests: Counter = field(default_factory=Counter)

    def add(self, ref: Sequence[str], hyp: Sequence[str]) -> int:
        aligned = edit_ops(ref, hyp)
        self.multirests.update(_multirest_readings(aligned))
        ref_positions = itertools.accumulate((op != "ins" for op, _, _ in aligned), initial=0)
        ops = [(op, r, h, at) for (op, r, h), at in zip(aligned, ref_positions) if op != "match"]
        self.errors += len(ops)
        self.reference_tokens += len(ref)
        self.sequences += 1
        self.wrong_sequences += bool(ops)
        for op, r, h, at in ops:
            categories = _categories(op, r, h)
            self.by_category.update(categories)
            if "pitch" in categories:
                kind = _pitch_kind(op, r, h)
                self.pitch_kinds[ACCIDENTAL_KINDS[accidental_source(ref, at)] if kind == "accidental" else kind] += 1
        return len(ops)

    def extend(self, pairs: Iterable[tuple[Sequence[str], Sequence[str]]]) -> ErrorRates:
        for ref, hyp in pairs:
            self.add(ref, hyp)
        return self

    def merge(self, other: ErrorRates) -> ErrorRates:
        """Add ``other``'s counts to these (a test set counted in parts, e.g. by Beam workers)."""
        self.errors += other.errors
        self.reference_tokens += other.reference_tokens
        self.sequences += other.sequences
        self.wrong_sequences += other.wrong_sequences
        self.by_category.update(other.by_category)
        self.pitch_kinds.update(other.pitch_kinds)
        self.multirests.update(other.multirests)
        return self

    @property
    def ser(self) -> float:
        return self.errors / max(1, self.reference_tokens)

    @property
    def sequence_error_rate(self) -> float:
        return self.wrong_sequences / max(1, self.sequences)

    def summary(self) -> dict:
        return {"ser": self.ser, "sequence_error_rate": self.sequence_error_rate, "errors": self.errors,
                "reference_tokens": self.reference_tokens, "sequences": self.sequences,
                "errors_by_type": {c: self.by_category.get(c, 0) for c in CATEGORIES},
                "pitch_errors": {k: self.pitch_kinds.get(k, 0) for k in PITCH_KINDS},
                "multirests": {g: {r: self.multirests.get((g, r), 0) for r in MULTIREST_READINGS}
                               for g in MULTIREST_GROUPS}}


def _multirest_readings(aligned: Sequence[tuple[str, str | None, str | None]]) -> Iterable[tuple[str, str]]:
    """How each reference multi-measure rest was read: right, as another count, or not as a multirest at all."""
    for op, ref, hyp in aligned:
        reference = parse(ref) if ref is not None else None
        if reference is None or reference.kind != "multirest":
            continue
        group = MULTIREST_GROUPS[reference.count > MULTIREST_SYMBOLS_UP_TO]
        if op == "match":
            yield group, "right"
        elif op == "sub" and hyp.startswith("multirest-"):
            yield group, "other count"
        else:
            yield group, "missed"


def _categories(op: str, ref: str | None, hyp: str | None) -> list[str]:
    """A note→note substitution counts as a pitch error, a duration error, or both."""
    if op == "sub":
        a, b = _note(ref), _note(hyp)
        if a and b:
            cats = (["pitch"] if (a.kind, a.pitch) != (b.kind, b.pitch) else []) + \
                (["duration"] if (a.duration, a.dots, a.fermata) != (b.duration, b.dots, b.fermata) else [])
            return cats or ["other"]
    return [token_category(ref if ref is not None else hyp)]


def _pitch_kind(op: str, ref: str | None, hyp: str | None) -> str:
    """Which part of a pitch was misread: only the accidental (same staff position), the staff position, or a note
    was missed, added or read as another symbol. The first says the model read the signs or their carrying
    wrong, the second the note head."""
    a, b = _note(ref), _note(hyp)
    if op != "sub" or a is None or b is None:
        return "note missing or extra"
    if a.pitch == b.pitch:  # note read as grace note or back: the pitch itself is right
        return "note missing or extra"
    return "accidental" if a.place == b.place else "position"


def symbol_error_rate(refs: Iterable[Sequence[str]], hyps: Iterable[Sequence[str]]) -> float:
    return ErrorRates().extend(zip(refs, hyps)).ser


# ----------------------------------------------------------------------------------------------- retrieval

RECALL_AT = (1, 10, 25)


def retrieval_ranks(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """1-based rank of each query's own item (gallery row i for query i) among all gallery rows, by inner product.

    Ties count against the query (a gallery of identical vectors ranks every item last), so a collapsed embedding
    cannot score well.
    """
    sims = queries @ gallery.T
    own = np.diag(sims)[:, None]
    return (sims >= own).sum(axis=1).astype(np.int64)


def retrieval_summary(ranks: np.ndarray) -> dict[str, float]:
    """Recall@k, mean reciprocal rank and median rank (MSMD's figures) of 1-based ranks."""
    ranks = np.asarray(ranks)
    out = {f"R@{k}": round(float((ranks <= k).mean()), 4) for k in RECALL_AT}
    out.update(MRR=round(float((1.0 / ranks).mean()), 4), median_rank=float(np.median(ranks)),
               candidates=int(len(ranks)))
    return out
