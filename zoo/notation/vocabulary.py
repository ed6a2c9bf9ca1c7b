"""The PrIMuS semantic vocabulary: the tokens a recognizer trained on PrIMuS-like data can emit."""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

VOCABULARY_PATH = Path(__file__).resolve().parent / "resources" / "primus" / "vocabulary_semantic.txt"

@lru_cache(maxsize=1)
def _vocabulary() -> tuple[str, ...]:
    return tuple(line.strip() for line in VOCABULARY_PATH.read_text(encoding="utf-8").splitlines() if line.strip())


def load_vocabulary() -> list[str]:
    """The 1,781 PrIMuS semantic tokens, in file order (read once, then cached)."""
    return list(_vocabulary())


@lru_cache(maxsize=1)
def _vocabulary_set() -> frozenset[str]:
    return frozenset(_vocabulary())


def out_of_vocabulary(tokens: Iterable[str]) -> list[str]:
    """Distinct tokens, in first-seen order, that the PrIMuS vocabulary lacks (a model cannot emit them)."""
    known, seen, unknown = _vocabulary_set(), set(), []
    for token in tokens:
        if token not in known and token not in seen:
            seen.add(token)
            unknown.append(token)
    return unknown

