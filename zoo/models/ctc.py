"""CTC decoding to token ids with per-token confidences (blank = last class)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np


@dataclass(frozen=True)
class Decoded:
    ids: list[int]
    confidences: list[float]  # per token: the highest frame probability of the token's run
    frames: list[int]  # per token: the first frame of its run on the path

    @property
    def confidence(self) -> float:
        return sequence_confidence(self.confidences)


def sequence_confidence(confidences: list[float]) -> float:
    """Geometric mean of token confidences (1.0 for an empty sequence)."""
    return float(np.exp(np.mean(np.log(np.maximum(confidences, 1e-12))))) if confidences else 1.0


def greedy(probs: np.ndarray, length: int) -> Decoded:
    """Best path: argmax per frame, merge repeats, drop blanks."""
    blank = probs.shape[-1] - 1
    best = probs[:length].argmax(-1)
    ids, confs, frames, prev = [], [], [], blank
    for t, k in enumerate(best):
        if k != blank and k != prev:
            ids.append(int(k))
            confs.append(float(probs[t, k]))
            frames.append(t)
        elif k != blank and k == prev:
            confs[-1] = max(confs[-1], float(probs[t, k]))
        prev = k
    return Decoded(ids, confs, frames)


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
    return Decoded(ids, *_align(probs[:length], ids))


def _accumulate(beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], i: int, logp: float) -> None:
    entry = beams.setdefault(prefix, [-np.inf, -np.inf])
    entry[i] = np.logaddexp(entry[i], logp)


def _align(probs: np.ndarray, ids: list[int]) -> tuple[list[float], list[int]]:
    """Each decoded token's highest frame probability and first frame along the labelling's best CTC path
    (Viterbi alignment).

    Taking each token's best frame after the previous token's would let the first of two equal tokens (two
    C5 eighths) take the second one's frame and leave the second with none: a confidence of 0 for a token the
    network clearly saw.
    """
    if not ids:
        return [], []
    blank = probs.shape[-1] - 1
    states = np.full(2 * len(ids) + 1, blank)
    states[1::2] = ids
    logp = np.log(np.maximum(probs[:, states], 1e-30))  # [T, S]
    # a token state may also be entered from two states back, skipping the blank, unless it repeats that token
    skip = np.zeros(len(states), bool)
    skip[3::2] = states[3::2] != states[1:-2:2]
    score = np.full(len(states), -np.inf)
    score[:2] = logp[0, :2]
    back = np.zeros((len(probs), len(states)), np.int64)
    for t in range(1, len(probs)):
        stay, step, jump = score, np.r_[-np.inf, score[:-1]], np.r_[-np.inf, -np.inf, score[:-2]]
        jump = np.where(skip, jump, -np.inf)
        choice = np.argmax(np.stack([stay, step, jump]), axis=0)
        back[t] = np.arange(len(states)) - choice
        score = np.maximum(np.maximum(stay, step), jump) + logp[t]
    state = len(states) - 1 if score[-1] >= score[-2] else len(states) - 2
    if not np.isfinite(score[state]):
        raise ValueError(f"{len(ids)} tokens cannot be aligned to {len(probs)} frames")
    confs, frames = np.zeros(len(ids)), np.zeros(len(ids), np.int64)
    for t in range(len(probs) - 1, -1, -1):
        if state % 2:
            confs[state // 2] = max(confs[state // 2], probs[t, states[state]])
            frames[state // 2] = t
        state = back[t, state]
    return [float(c) for c in confs], [int(f) for f in frames]
