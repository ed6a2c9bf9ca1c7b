"""Bars that do not add up to their time signature: the one note or rest whose other duration, among those the
token output also gives it, makes the bar fit.

Why: the recognizer often reads a thirty-second's third beam as a sixteenth's, sure of it (0.9 and more), and a
dotted note's dot as missing: thirty-seconds and dotted whole notes are rare, so each of their
pitch-and-duration classes is seldom seen in training (1,420 dotted whole notes among the training staves,
against 20,797 whole notes, over 30 pitches). A musician counts the bar against its time signature. Staves
built by this project have no tuplets, so a bar that adds up to more than its time signature allows holds a
misread duration. The rule changes at most one sign per bar, to a duration the token output gives at least
``exp(-COST)`` of the probability of the one it read, at the sign's first frame, or a note to a grace note of
its pitch (which takes no time: ornaments of the fiddle tunes were read as sixteenths); of several that fit,
the most probable. A bar that adds up to less may be short on purpose: pick-up bars and bars cut at a repeat
(on the fixed 1,200 validation staves: 86 of the 2,887 bars after a staff's first, and 288 of the 1,200 first
bars; one bar overran as written). Such a bar only gains a missing dot, where one dot makes it exactly full:
any other change to a short bar misread more than it mended.
A bar that is one rest (a whole-bar rest is drawn as a whole rest in every metre) or has a multi-measure rest is
left alone too. Tuned on the fixed 1,200 validation staves and their distorted copies
(docs/decisions/0013-reading-rules.md).

:func:`timed` is the rule on token ids (library decoding); :class:`GraphRhythm` is the same rule in the serving
graph; tests hold them equal.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import tensorflow as tf

from zoo.notation.tokens import bar_units, duration_units, without_duration

Units = int | np.integer | np.ndarray | tf.Tensor  # durations in QUARTER_UNITS, one or many
COST = 5.0  # nats: log(probability of the read duration / probability of the other one) at most this


def _sign(token: str) -> str | None:
    """What readings of one note or rest with another duration share; a grace note counts as its note's reading."""
    return without_duration("note-" + token.removeprefix("gracenote-") if token.startswith("gracenote-") else token)


class _Tables:
    """Per vocabulary id (and the blank, last): duration units in the bar (0 for a grace note, -1: none), bar units
    of a time signature (-1: none), whether it is a barline, a rest or a multi-measure rest, and the ids of the
    same sign with another duration or as a grace note (padded with the blank)."""

    def __init__(self, vocabulary: Sequence[str]):
        size = len(vocabulary) + 1
        self.units = np.full(size, -1, np.int32)
        self.meter = np.full(size, -1, np.int32)
        self.barline = np.array([t == "barline" for t in vocabulary] + [False])
        self.rest = np.array([t.startswith("rest-") for t in vocabulary] + [False])
        self.multirest = np.array([t.startswith("multirest-") for t in vocabulary] + [False])
        signs: dict[str, list[int]] = {}
        for i, token in enumerate(vocabulary):
            self.units[i] = 0 if token.startswith("gracenote-") else duration_units(token) or -1
            self.meter[i] = bar_units(token) or -1
            if (sign := _sign(token)) is not None:
                signs.setdefault(sign, []).append(i)
        width = max((len(ids) - 1 for ids in signs.values()), default=0) or 1
        self.others = np.full((size, width), size - 1, np.int32)
        for ids in signs.values():
            for i in ids:
                row = [j for j in ids if j != i]
                self.others[i, : len(row)] = row


@lru_cache(maxsize=4)
def _tables(vocabulary: tuple[str, ...]) -> _Tables:
    return _Tables(vocabulary)


def bars(ids: Sequence[int], tables: _Tables) -> list[tuple[int, int, int]]:
    """(first, end, units over its time signature: negative when short) of each bar of an id sequence that does
    not add up to its time signature and is neither a lone rest nor holds a multi-measure rest: the tokens up to
    and including each barline, and after the last."""
    out, start, meter = [], 0, -1
    for j, token_id in enumerate(ids):
        meter = tables.meter[token_id] if tables.meter[token_id] >= 0 else meter
        if tables.barline[token_id] or j == len(ids) - 1:
            members = ids[start: j + 1]
            units = [tables.units[i] for i in members if tables.units[i] > 0]
            only_rest = len(units) == 1 and any(tables.rest[i] for i in members)
            multirest = any(tables.multirest[i] for i in members)
            if meter >= 0 and units and sum(units) != meter and not only_rest and not multirest:
                out.append((start, j + 1, int(sum(units) - meter)))
            start = j + 1
    return out


def _fits(units: Units, other: Units, excess: Units) -> Units:
    """Whether reading a sign of ``units`` as ``other`` units mends a bar ``excess`` units over (under) its time
    signature: any duration or a grace note for a bar that overruns, only one more dot (× 3/2) for a short one.
    Elementwise on numbers, numpy arrays and tensors alike, so the graph rule asks the same question."""
    return (other - units == -excess) & ((excess > 0) | (2 * other == 3 * units))


def timed(ids: Sequence[int], frames: Sequence[int], vocabulary: Sequence[str], probs: np.ndarray) -> list[int]:
    """``ids`` with, in each bar that overruns its time signature, the one duration changed that makes it fit,
    and in each short bar the one dot added that fills it (the most probable under the token output's softmax
    ``probs`` [frames, classes], within :data:`COST`)."""
    tables, out = _tables(tuple(vocabulary)), list(ids)
    for first, end, excess in bars(ids, tables):
        best: tuple[float, int, int] | None = None
        for j in range(first, end):
            if tables.units[ids[j]] < 0:
                continue
            for other in tables.others[ids[j]]:
                if other == len(vocabulary) or not _fits(tables.units[ids[j]], tables.units[other], excess):  # padding
                    continue
                with np.errstate(divide="ignore"):  # a class the output gives nothing costs infinitely much
                    cost = np.log(probs[frames[j], ids[j]]) - np.log(probs[frames[j], other])
                if cost <= COST and (best is None or cost < best[0]):
                    best = (cost, j, int(other))
        if best is not None:
            out[best[1]] = best[2]
    return out


class GraphRhythm:
    """:func:`timed` on padded id sequences in the graph."""

    def __init__(self, vocabulary: Sequence[str]):
        tables = _tables(tuple(vocabulary))
        self.units, self.meter, self.others = (tf.constant(x) for x in (tables.units, tables.meter, tables.others))
        self.blank = len(vocabulary)
        self.barline, self.rest, self.multirest = (tf.constant(x) for x in (tables.barline, tables.rest,
                                                                           tables.multirest))

    def __call__(self, ids: tf.Tensor, lengths: tf.Tensor, at: tf.Tensor) -> tf.Tensor:
        """ids [B, L] padded with the blank, each staff's token count [B], and the token output's softmax at each
        token's first frame [B, L, V+1] → ids with each overrunning bar's duration changed."""
        batch, width = tf.shape(ids)[0], tf.shape(ids)[1]
        position = tf.broadcast_to(tf.range(width)[None, :], tf.shape(ids))
        real = position < lengths[:, None]
        barline = tf.gather(self.barline, ids) & real
        bar = tf.cumsum(tf.cast(barline, tf.int32), 1, exclusive=True)  # a barline closes its bar
        segment = tf.reshape(tf.range(batch)[:, None] * (width + 1) + bar, [-1])
        count = batch * (width + 1)

        def per_bar(values: tf.Tensor, reduce) -> tf.Tensor:
            return tf.reshape(tf.gather(reduce(tf.reshape(values, [-1]), segment, count), segment), [batch, width])

        is_meter = (tf.gather(self.meter, ids) >= 0) & real
        seen = tf.cumsum(tf.cast(is_meter, tf.int32), 1)  # time signatures so far, this one included
        meters = tf.ragged.boolean_mask(tf.gather(self.meter, ids), is_meter).to_tensor(default_value=-1)
        meters = tf.pad(meters, [[0, 0], [0, 1]], constant_values=-1)  # a column, for staves without one
        in_force = tf.where(seen > 0, tf.gather(meters, tf.maximum(seen - 1, 0), batch_dims=1), -1)
        last = per_bar(tf.where(real, position, -1), tf.math.unsorted_segment_max)
        meter = tf.gather(in_force, tf.maximum(last, 0), batch_dims=1)

        units = tf.where(real, tf.gather(self.units, ids), -1)
        timed = units >= 0
        total = per_bar(tf.where(timed, units, 0), tf.math.unsorted_segment_sum)
        signs = per_bar(tf.cast(units > 0, tf.int32), tf.math.unsorted_segment_sum)
        rests = per_bar(tf.cast(tf.gather(self.rest, ids) & real, tf.int32), tf.math.unsorted_segment_sum)
        multirests = per_bar(tf.cast(tf.gather(self.multirest, ids) & real, tf.int32), tf.math.unsorted_segment_sum)
        excess = total - meter
        open_bar = (meter >= 0) & (signs > 0) & (excess != 0) & (multirests == 0) & ~((signs == 1) & (rests > 0))

        others = tf.gather(self.others, ids)  # [B, L, A]
        read = tf.math.log(tf.gather(at, ids, batch_dims=2))
        cost = read[..., None] - tf.math.log(tf.gather(at, others, batch_dims=2))
        fits = _fits(units[..., None], tf.gather(self.units, others), excess[..., None]) & (others != self.blank) & \
            (open_bar & timed)[..., None] & (cost <= COST)
        cost = tf.where(fits, cost, np.inf)
        token_cost = tf.reduce_min(cost, -1)
        choice = tf.gather(others, tf.argmin(cost, -1, output_type=tf.int32), batch_dims=2)
        bar_cost = per_bar(token_cost, tf.math.unsorted_segment_min)
        best = (token_cost == bar_cost) & tf.math.is_finite(token_cost)
        first = per_bar(tf.where(best, position, width), tf.math.unsorted_segment_min)
        return tf.where(best & (position == first), choice, ids)
