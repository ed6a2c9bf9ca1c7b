"""Bars that do not add up to their time signature: the one note or rest whose other duration, among those the
token output also gives it, makes the bar fit.

Why: the recognizer often reads a thirty-second's third beam as a sixteenth's, sure of it (0.9 and more), and a
dotted note's dot as missing: thirty-seconds and dotted whole notes are rare, so each of their
pitch-and-duration classes is seldom seen in training (1,420 dotted whole notes among the training staves,
against 20,797 whole notes, over 30 pitches). A musician counts the bar against its time signature. Staves
built by this project have no tuplets, so a bar that adds up to more than its time signature allows holds a
misread duration. The rule changes at most one sign per bar, to a duration the token output gives at least
``exp(-cost)`` of the probability of the one it read, at the sign's first frame, or a note to a grace note of
its pitch (which takes no time: ornaments of the fiddle tunes were read as sixteenths); of several that fit,
the most probable. A bar that adds up to less may be short on purpose: pick-up bars and bars cut at a repeat
(on the fixed 1,200 validation staves: 86 of the 2,887 bars after a staff's first, and 288 of the 1,200 first
bars; one bar overran as written). Such a bar only gains a missing dot, where one dot makes it exactly full:
any other change to a short bar misread more than it mended.
A bar that is one rest (a whole-bar rest is drawn as a whole rest in every metre) or has a multi-measure rest is
left alone too. Tuned on the fixed 1,200 validation staves and their distorted copies
(docs/decisions/0013-reading-rules.md).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from zoo.decoding.config import Rhythm
from zoo.decoding.tables import Tables


def fits(units, other, excess):
    """Whether reading a sign of ``units`` as ``other`` units mends a bar ``excess`` units over (under) its time
    signature: any duration or a grace note for a bar that overruns, only one more dot (× 3/2) for a short one.
    Elementwise on numbers, arrays and tensors alike."""
    return (other - units == -excess) & ((excess > 0) | (2 * other == 3 * units))


def timed(tables: Tables, config: Rhythm, ids: tf.Tensor, counts: tf.Tensor, at: tf.Tensor) -> tf.Tensor:
    """ids [B, L] padded with the blank, each staff's token count [B], and the token output's softmax at each
    token's first frame [B, L, V+1] → ids with each overrunning bar's one duration changed and each short bar's
    one dot added."""
    batch, width = tf.shape(ids)[0], tf.shape(ids)[1]
    position = tf.broadcast_to(tf.range(width)[None, :], tf.shape(ids))
    real = position < counts[:, None]
    barline = tf.gather(tables.barline, ids) & real
    bar = tf.cumsum(tf.cast(barline, tf.int32), 1, exclusive=True)  # a barline closes its bar
    segment = tf.reshape(tf.range(batch)[:, None] * (width + 1) + bar, [-1])
    count = batch * (width + 1)

    def per_bar(values: tf.Tensor, reduce) -> tf.Tensor:
        return tf.reshape(tf.gather(reduce(tf.reshape(values, [-1]), segment, count), segment), [batch, width])

    is_meter = (tf.gather(tables.meter, ids) >= 0) & real
    seen = tf.cumsum(tf.cast(is_meter, tf.int32), 1)  # time signatures so far, this one included
    meters = tf.ragged.boolean_mask(tf.gather(tables.meter, ids), is_meter).to_tensor(default_value=-1)
    meters = tf.pad(meters, [[0, 0], [0, 1]], constant_values=-1)  # a column, for staves without one
    in_force = tf.where(seen > 0, tf.gather(meters, tf.maximum(seen - 1, 0), batch_dims=1), -1)
    last = per_bar(tf.where(real, position, -1), tf.math.unsorted_segment_max)
    meter = tf.gather(in_force, tf.maximum(last, 0), batch_dims=1)

    units = tf.where(real, tf.gather(tables.units, ids), -1)
    is_timed = units >= 0
    total = per_bar(tf.where(is_timed, units, 0), tf.math.unsorted_segment_sum)
    signs = per_bar(tf.cast(units > 0, tf.int32), tf.math.unsorted_segment_sum)
    rests = per_bar(tf.cast(tf.gather(tables.rest, ids) & real, tf.int32), tf.math.unsorted_segment_sum)
    multirests = per_bar(tf.cast(tf.gather(tables.multirest, ids) & real, tf.int32), tf.math.unsorted_segment_sum)
    excess = total - meter
    open_bar = (meter >= 0) & (signs > 0) & (excess != 0) & (multirests == 0) & ~((signs == 1) & (rests > 0))

    others = tf.gather(tables.others, ids)  # [B, L, A]
    read = tf.math.log(tf.gather(at, ids, batch_dims=2))
    cost = read[..., None] - tf.math.log(tf.gather(at, others, batch_dims=2))
    mends = fits(units[..., None], tf.gather(tables.units, others), excess[..., None]) & \
        (others != tables.blank) & (open_bar & is_timed)[..., None] & (cost <= config.cost)
    cost = tf.where(mends, cost, np.inf)
    token_cost = tf.reduce_min(cost, -1)
    choice = tf.gather(others, tf.argmin(cost, -1, output_type=tf.int32), batch_dims=2)
    bar_cost = per_bar(token_cost, tf.math.unsorted_segment_min)
    best = (token_cost == bar_cost) & tf.math.is_finite(token_cost)
    first = per_bar(tf.where(best, position, width), tf.math.unsorted_segment_min)
    return tf.where(best & (position == first), choice, ids)
