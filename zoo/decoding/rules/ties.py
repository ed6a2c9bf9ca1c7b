"""Ties the token output left out: mostly ties over a barline, which the head sees printed between two notes of
one pitch (docs/decisions/0013-reading-rules.md)."""
from __future__ import annotations

import tensorflow as tf

from zoo.decoding.config import Ties
from zoo.decoding.tables import Tables
from zoo.notation.printed import ALPHABET

_TIE = ALPHABET.index("tie")


def tied(tables: Tables, config: Ties, ids: tf.Tensor, frames: tf.Tensor, confidences: tf.Tensor,
         head: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """ids [B, L] padded with the blank, their first frames and confidences [B, L], and the head's softmax
    [B, T, A+1] → ids and confidences with a tie inserted after each note (not a grace note) whose next token, or
    the one after a barline, is a note of the same pitch, where the head gives a tie at least ``config.sure``
    (the most from the first note's frame to the second's; that is the tie's confidence) and none was read."""
    blank = tables.blank

    def ahead(x: tf.Tensor, by: int, fill) -> tf.Tensor:
        return tf.pad(x, [[0, 0], [0, by]], constant_values=fill)[:, by:]

    over = tf.gather(tables.barline, ahead(ids, 1, blank))
    after = tf.where(over, ahead(ids, 2, blank), ahead(ids, 1, blank))
    until = tf.where(over, ahead(frames, 2, 0), ahead(frames, 1, 0))
    same = tf.gather(tables.is_note, ids) & ~tf.gather(tables.grace, ids) & tf.gather(tables.is_note, after) & \
        (tf.gather(tables.place, ids) == tf.gather(tables.place, after)) & \
        (tf.gather(tables.alter, ids) == tf.gather(tables.alter, after))
    tie = head[..., _TIE]  # [B, T]
    time = tf.range(tf.shape(tie)[1])[None, None, :]
    between = (time >= frames[..., None]) & (time <= until[..., None])
    seen = tf.reduce_max(tf.where(between, tie[:, None, :], 0.0), -1)
    insert = same & (seen >= config.sure) & (ids != blank)
    batch = tf.shape(ids)[0]
    pairs = tf.reshape(tf.stack([ids, tf.fill(tf.shape(ids), tables.tie_id)], 2), [batch, -1])
    pair_confidences = tf.reshape(tf.stack([confidences, seen], 2), [batch, -1])
    keep = tf.reshape(tf.stack([ids != blank, insert], 2), tf.shape(pairs))
    return (tf.ragged.boolean_mask(pairs, keep).to_tensor(default_value=blank),
            tf.ragged.boolean_mask(pair_confidences, keep).to_tensor(default_value=0.0))
