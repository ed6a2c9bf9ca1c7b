"""Test-time augmentation for score recognition: read a staff at several horizontal spacings and keep the
reading most of them agree on.

Editions space the same notes tighter or looser, and the recognizer's misreadings move with the spacing: a symbol
misread at one spacing is often read right at the others, so a vote over a few stretched copies of the staff
removes errors that no single reading can (docs/decisions/0011-decoding-beam-and-tta.md). The scales were chosen on
the validation staves; vertical shifts were tried too and read worse on their own, so they are not used.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

WIDTH_SCALES = (0.9, 0.95, 1.0, 1.05, 1.12)


def vote(readings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The token sequence most readings share (ties: the higher summed confidence), as its most confident reading,
    with ``agreement``: the share of readings identical to it (1.0 when every spacing reads the same)."""
    if not readings:
        raise ValueError("no readings to vote on")
    scores: dict[tuple[str, ...], float] = {}
    for reading in readings:
        key = tuple(reading["tokens"])
        scores[key] = scores.get(key, 0.0) + 1.0 + reading["confidence"]  # confidence ∈ [0, 1]: breaks ties only
    winner = max(scores, key=scores.get)
    agreeing = [r for r in readings if tuple(r["tokens"]) == winner]
    best = max(agreeing, key=lambda r: r["confidence"])
    return {**best, "agreement": round(len(agreeing) / len(readings), 4)}
