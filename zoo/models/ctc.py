"""CTC decoding to token ids with per-token confidences (blank = last class)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf


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


def beam(probs: np.ndarray, length: int, width: int) -> Decoded:
    """Beam search over the CTC lattice (TF's decoder); token confidences from the frames it aligns to."""
    logp = np.log(np.maximum(probs[:length], 1e-12))[:, None, :]  # [T, 1, C], time-major
    decoded, _ = tf.nn.ctc_beam_search_decoder(logp, [length], beam_width=width, top_paths=1)
    ids = tf.sparse.to_dense(decoded[0]).numpy()[0].tolist() if decoded[0].values.shape[0] else []
    return Decoded(ids, _align_confidences(probs[:length], ids))


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
