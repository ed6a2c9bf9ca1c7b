"""A doubted note moved to the line or space the head is sure it is printed on.

A note of the token output is one of ~1,660 pitch-and-duration classes, many of them rare; the head's few place
classes (:data:`zoo.notation.printed.NOTE_STEPS`, counted from the bottom line, so one class serves every clef and
duration) each see thousands of notes. Where the token output doubts a note, the head is sure of its place and
one of the output's next choices is the same note value on that place, that one is taken; with no such choice,
the note value on that place without an accidental (the key and the bar give it one afterwards). Notes read on
the wrong line or space were a third of the errors left on the staff validation staves
(docs/decisions/0012-sign-head.md).
"""
from __future__ import annotations

import tensorflow as tf

from zoo.decoding.config import Place
from zoo.decoding.tables import DIATONIC, NO_STEP, Tables
from zoo.notation.printed import FIRST_STEP, HIGHEST_STEP, LOWEST_STEP, NOTE_STEPS, TREBLE


def head_steps(config: Place, head: tf.Tensor, frames: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
    """Per token [B, L]: the staff step the head reads most over its first frame ± ``config.window``, where the
    head gives it at least ``config.sure``; else :data:`NO_STEP`."""
    steps = head[..., FIRST_STEP:FIRST_STEP + len(NOTE_STEPS)]
    steps *= tf.cast(tf.sequence_mask(lengths, tf.shape(steps)[1]), steps.dtype)[..., None]
    near = tf.gather(tf.nn.max_pool1d(steps, 2 * config.window + 1, 1, "SAME"), frames, batch_dims=1)
    return tf.where(tf.reduce_max(near, -1) >= config.sure, LOWEST_STEP + tf.argmax(near, -1, output_type=tf.int32),
                    NO_STEP)


def clef_bottom_lines(tables: Tables, ids: tf.Tensor) -> tf.Tensor:
    """Per token [B, L]: the diatonic number on the staff's bottom line under the latest clef so far (treble
    before any)."""
    lowest = tf.gather(tables.lowest, ids)
    position = tf.range(tf.shape(ids)[1])
    # [B, L (this token), L (tokens up to it)]: the latest clef at or before each token
    upto = position[None, :, None] >= position[None, None, :]
    latest = tf.reduce_max(tf.where(upto & (lowest > 0)[:, None, :], position[None, None, :], -1), -1)
    return tf.where(latest >= 0, tf.gather(lowest, tf.maximum(latest, 0), batch_dims=1), TREBLE)


def placed(tables: Tables, config: Place, ids: tf.Tensor, frames: tf.Tensor, at: tf.Tensor, head: tf.Tensor,
           lengths: tf.Tensor) -> tf.Tensor:
    """ids [B, L] with each note the token output doubts (below ``config.doubt`` in ``at``, its softmax at each
    token's first frame [B, L, V+1]) moved to the staff step the head is sure of: the first of the output's
    ``config.choices`` best classes there that is the same note value on that step, else that note value there
    without an accidental, unless the step is at or beyond the head's range."""
    step = tf.where(tf.gather(at, ids, batch_dims=2) < config.doubt, head_steps(config, head, frames, lengths),
                    NO_STEP)
    choices = tf.math.top_k(at, tf.minimum(config.choices, tf.shape(at)[-1])).indices  # [B, L, K]
    lowest = clef_bottom_lines(tables, ids)
    value = tf.gather(tables.value, ids)
    on = tf.clip_by_value(tf.gather(tables.step, choices) - lowest[..., None], LOWEST_STEP, HIGHEST_STEP)
    fit = (tf.gather(tables.value, choices) == value[..., None]) & (value >= 0)[..., None] & (on == step[..., None])
    first = tf.gather(choices, tf.argmax(tf.cast(fit, tf.int32), -1, output_type=tf.int32), batch_dims=2)
    diatonic = lowest + step
    inside = (step > LOWEST_STEP) & (step < HIGHEST_STEP) & (value >= 0) & (diatonic >= 0) & (diatonic < DIATONIC)
    built = tf.gather_nd(tables.natural, tf.stack([tf.maximum(value, 0), tf.clip_by_value(diatonic, 0, DIATONIC - 1)],
                                                  -1))
    return tf.where(tf.reduce_any(fit, -1), first, tf.where(inside & (built >= 0), built, ids))
