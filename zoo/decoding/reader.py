"""From a recognizer's outputs to tokens: a sampler's path, then the reading rules, then confidences.

One implementation serves every caller: the library runs :class:`Reader` eagerly (or in a ``tf.function``) on a
batch, the serving signature runs it inside the exported graph, so what the library answers, the served model
answers (``tests/parity``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from zoo.decoding import ctc
from zoo.decoding.config import ReadingConfig
from zoo.decoding.rules import accidentals, key, place, rhythm, ties
from zoo.decoding.tables import tables


@dataclass(frozen=True)
class Reading:
    """Read tokens per staff, padded: ``ids`` [B, L] (with the blank), ``confidences`` [B, L] (0.0), ``counts`` [B]
    and each staff's ``confidence`` [B] (:func:`zoo.decoding.ctc.sequence_confidence`)."""
    ids: tf.Tensor
    confidences: tf.Tensor
    counts: tf.Tensor
    confidence: tf.Tensor

    def results(self, vocabulary: Sequence[str]) -> list[dict[str, Any]]:
        """One ``{"tokens", "confidence", "token_confidences"}`` per staff (confidences rounded to 6 and 4
        places), as the library and CLI give them."""
        out = []
        for ids, confidences, count, confidence in zip(self.ids.numpy(), self.confidences.numpy(),
                                                       self.counts.numpy(), self.confidence.numpy()):
            out.append({"tokens": [vocabulary[i] for i in ids[:count]], "confidence": round(float(confidence), 6),
                        "token_confidences": [round(float(c), 4) for c in confidences[:count]]})
        return out


class Reader:
    """Reads a batch of token-output softmaxes (and the sign head's, if the recognizer has one) with the rules
    ``config`` switches on, in order: rhythm, the head's key, place, accidentals, ties. The rules that read the
    head (:data:`zoo.decoding.config.HEAD_RULES`) are left out without one."""

    def __init__(self, vocabulary: Sequence[str], config: ReadingConfig | None = None):
        self.vocabulary = tuple(vocabulary)
        self.config = config or ReadingConfig()
        self.tables = tables(self.vocabulary)

    def __call__(self, probs: tf.Tensor, lengths: tf.Tensor, head: tf.Tensor | None = None,
                 path: ctc.Path | None = None) -> Reading:
        """``probs`` [B, T, V+1] and the frames each staff has [B] (and the head's softmax [B, T, A+1]) → the
        reading; ``path`` is the sampler's (greedy when not given)."""
        probs = tf.convert_to_tensor(probs, tf.float32)
        lengths = tf.cast(lengths, tf.int32)
        path = path if path is not None else ctc.greedy(probs, lengths)
        cfg, t = self.config, self.tables
        ids, frames, confidences = path.ids, path.frames, path.confidences
        at = tf.gather(probs, frames, batch_dims=1)  # [B, L, V+1]: the softmax at each token's first frame
        settled = key.settled(t, cfg.key, ids, frames, probs, head, lengths) if head is not None and cfg.key.on \
            else None  # from the tokens as decoded, before any rule changed them
        if cfg.rhythm.on:
            ids = rhythm.timed(t, cfg.rhythm, ids, path.counts, at)
        if head is not None:
            if cfg.place.on:
                ids = place.placed(t, cfg.place, ids, frames, at, head, lengths)
            if settled is not None:
                ids = key.with_key(t, ids, settled)
            if cfg.accidentals.on:
                evidence, printed = accidentals.sign_evidence(cfg.accidentals, head, frames)
                ids = accidentals.read(t, cfg.accidentals, ids, evidence, printed)
            if cfg.ties.on:
                ids, confidences = ties.tied(t, cfg.ties, ids, frames, confidences, head)
        counts = tf.reduce_sum(tf.cast(ids != t.blank, tf.int32), 1)
        return Reading(ids, confidences, counts, ctc.sequence_confidence(confidences, counts))
