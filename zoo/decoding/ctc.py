"""CTC decoding of a batch of softmax outputs [B, T, V+1] (the blank is the last class) into token paths, as
swappable samplers: :class:`Greedy` (the best path, batched TensorFlow ops, also inside the serving graph) and
:class:`PrefixBeam` (the most probable labelling; library only, docs/decisions/0011-decoding-beam-and-tta.md).

Confidence has one definition, used by every path, the library and the served model alike: a token's confidence
is the highest probability its class gets over the frames of its run on the path (for a beam labelling: along
its best alignment), and a staff's is the geometric mean of its tokens' (1.0 for no token).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class Path:
    """Decoded tokens per staff, padded: ``ids`` [B, L] (with the blank), each token's first frame ``frames``
    [B, L] (0), its confidence ``confidences`` [B, L] (0.0), and the token count ``counts`` [B]."""
    ids: tf.Tensor
    frames: tf.Tensor
    confidences: tf.Tensor
    counts: tf.Tensor


def sequence_confidence(confidences: tf.Tensor, counts: tf.Tensor) -> tf.Tensor:
    """Per staff [B]: the geometric mean of its ``counts`` first token ``confidences`` [B, L] (1.0 for none)."""
    mask = tf.sequence_mask(counts, tf.shape(confidences)[1], confidences.dtype)
    logs = tf.reduce_sum(tf.math.log(tf.maximum(confidences, 1e-12)) * mask, 1)
    return tf.exp(logs / tf.maximum(tf.cast(counts, confidences.dtype), 1.0))


def greedy(probs: tf.Tensor, lengths: tf.Tensor) -> Path:
    """Best path: the most probable class per frame (within each staff's ``lengths`` frames), repeats merged,
    blanks dropped."""
    probs = tf.convert_to_tensor(probs, tf.float32)
    lengths = tf.cast(lengths, tf.int32)
    batch, time = tf.shape(probs)[0], tf.shape(probs)[1]
    blank = tf.shape(probs)[2] - 1
    best = tf.argmax(probs, -1, output_type=tf.int32)
    best = tf.where(tf.sequence_mask(lengths, time), best, blank)
    previous = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=blank)
    token = best != blank
    starts = token & (best != previous)
    ids = tf.ragged.boolean_mask(best, starts)
    counts = tf.cast(ids.row_lengths(), tf.int32)
    frames = tf.ragged.boolean_mask(tf.broadcast_to(tf.range(time), tf.shape(best)), starts)
    # each frame of a run belongs to the token its run started; the run's best probability is the token's
    run = tf.cumsum(tf.cast(starts, tf.int32), 1) - 1
    segment = tf.where(token, tf.range(batch)[:, None] * time + run, batch * time)
    best_p = tf.reduce_max(probs, -1)
    per_run = tf.math.unsorted_segment_max(tf.reshape(best_p, [-1]), tf.reshape(segment, [-1]), batch * time + 1)
    per_run = tf.reshape(per_run[:-1], [batch, time])
    width = tf.reduce_max(tf.concat([counts, [0]], 0))
    confidences = tf.where(tf.sequence_mask(counts, width), per_run[:, :width], 0.0)
    return Path(ids.to_tensor(default_value=blank), frames.to_tensor(default_value=0), confidences, counts)


class Greedy:
    """The best-path sampler (the default, and the serving graph's)."""

    name = "greedy"

    def __call__(self, probs: tf.Tensor, lengths: tf.Tensor) -> Path:
        return greedy(probs, lengths)


class PrefixBeam:
    """Prefix beam search over the CTC lattice (Hannun et al., 2014): the most probable labelling, summed over
    all its alignments, instead of the single most probable path.

    A frame extends a prefix only by tokens with probability >= ``prune`` there (and by the prefix's own last
    token, which may go on), so a staff's few hundred frames with a handful of live tokens each take
    milliseconds. ``tf.nn.ctc_beam_search_decoder`` scores every one of the vocabulary's ~1,860 classes per beam
    and frame: 1,150 ms a staff here, against 17 ms; the search is a dictionary of prefixes that grows and is
    pruned per frame, which batched tensor ops do not express well, so it runs eagerly on the library's numpy
    softmax and hands the rules a :class:`Path` like greedy decoding's.
    """

    name = "beam"

    def __init__(self, width: int, prune: float = 1e-3):
        if width < 1:
            raise ValueError(f"beam width must be >= 1, got {width}")
        self.width, self.prune = width, prune

    def __call__(self, probs: tf.Tensor | np.ndarray, lengths: tf.Tensor | np.ndarray) -> Path:
        probs, lengths = np.asarray(probs), np.asarray(lengths)
        found = [self.labelling(p, int(n)) for p, n in zip(probs, lengths)]
        blank, width = probs.shape[-1] - 1, max([len(ids) for ids, _, _ in found] + [0])
        ids = np.full((len(found), width), blank, np.int32)
        frames, confidences = np.zeros((len(found), width), np.int32), np.zeros((len(found), width), np.float32)
        for b, (row, conf, first) in enumerate(found):
            ids[b, : len(row)], confidences[b, : len(row)], frames[b, : len(row)] = row, conf, first
        return Path(tf.constant(ids), tf.constant(frames), tf.constant(confidences),
                    tf.constant([len(row) for row, _, _ in found], tf.int32))

    def labelling(self, probs: np.ndarray, length: int) -> tuple[list[int], list[float], list[int]]:
        """One staff's softmax [T, V+1] → the best labelling's ids, token confidences and first frames."""
        blank = probs.shape[-1] - 1
        logp = np.log(np.maximum(probs[:length], 1e-30))
        floor = np.log(self.prune) if self.prune > 0 else -np.inf
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
            beams = dict(sorted(nxt.items(), key=lambda item: -np.logaddexp(*item[1]))[: self.width])
        ids = list(next(iter(beams)))  # the beams are kept best first
        confidences, frames = align(probs[:length], ids)
        return ids, confidences, frames


def _accumulate(beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], i: int, logp: float) -> None:
    entry = beams.setdefault(prefix, [-np.inf, -np.inf])
    entry[i] = np.logaddexp(entry[i], logp)


def align(probs: np.ndarray, ids: list[int]) -> tuple[list[float], list[int]]:
    """Each token's highest frame probability and first frame along the labelling's best CTC path (Viterbi).

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
