"""CTC decoding to token ids with per-token confidences (blank = last class)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np


@dataclass(frozen=True)
class Decoded:
    ids: list[int]
    confidences: list[float]  # per token: the highest frame probability of the token's run

    @property
    def confidence(self) -> float:
        """Sequence confidence: geometric mean of token confidences (1.0 for an empty sequence)."""
        return float(np.exp(np.mean(np.log(np.maximum(self.confidences, 1e-12))))) if self.confidences else 1.0


def greedy(probs: np.ndarray, length: int) -> Decoded:
    """Best path: argmax per frame, merge repeats, drop blanks."""
    blank = probs.shape[-1] - 1
    best = probs[:length].argmax(-1)
    ids, confs, prev = [], [], blank
    for t, k in enumerate(best):
        if k != blank and k != prev:
            ids.append(int(k))
            confs.append(float(probs[t, k]))
        elif k != blank and k == prev:
            confs[-1] = max(confs[-1], float(probs[t, k]))
        prev = k
    return Decoded(ids, confs)


def beam(probs: np.ndarray, length: int, width: int, prune: float = 1e-3) -> Decoded:
    """Prefix beam search over the CTC lattice (Hannun et al., 2014): the most probable labelling, summed over
    all its alignments, instead of the single most probable path.

    A frame extends a prefix only by tokens with probability >= ``prune`` there (and by the prefix's own last
    token, which may go on), so a staff's few hundred frames with a handful of live tokens each take
    milliseconds; TensorFlow's decoder scores every one of the vocabulary's ~1,800 classes per beam and frame.
    """
    if width < 1:
        raise ValueError(f"beam width must be >= 1, got {width}")
    blank = probs.shape[-1] - 1
    logp = np.log(np.maximum(probs[:length], 1e-30))
    floor = np.log(prune) if prune > 0 else -np.inf
    # prefix -> [log p of its alignments ending in a blank, log p of those ending in its last token]
    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, -np.inf]}
    for frame in logp:
        live = [int(k) for k in np.flatnonzero(frame >= floor) if k != blank]
        nxt: dict[tuple[int, ...], list[float]] = {}
        add = partial(_accumulate, nxt)
        for prefix, (p_blank, p_token) in beams.items():
            total = np.logaddexp(p_blank, p_token)
            add(prefix, 0, total + frame[blank])
            last = prefix[-1] if prefix else None
            if last is not None:
                add(prefix, 1, p_token + frame[last])  # the last token's run goes on
            for k in live:
                if k == last:
                    add(prefix + (k,), 1, p_blank + frame[k])  # a repeat needs a blank in between
                else:
                    add(prefix + (k,), 1, total + frame[k])
        beams = dict(sorted(nxt.items(), key=lambda item: -np.logaddexp(*item[1]))[:width])
    ids = list(next(iter(beams)))  # the beams are kept best first
    return Decoded(ids, _align_confidences(probs[:length], ids))


def _accumulate(beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], i: int, logp: float) -> None:
    entry = beams.setdefault(prefix, [-np.inf, -np.inf])
    entry[i] = np.logaddexp(entry[i], logp)


def _align_confidences(probs: np.ndarray, ids: list[int]) -> list[float]:
    """Greedy monotone alignment of the decoded ids to frames: each id takes its best frame after the previous."""
    confs, start = [], 0
    for k in ids:
        if start >= len(probs):
            confs.append(float(probs[-1, k]))
            continue
        t = start + int(probs[start:, k].argmax())
        confs.append(float(probs[t, k]))
        start = t + 1
    return confs
