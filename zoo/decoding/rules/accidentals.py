"""Accidentals as a musician reads them: a note shows the sign printed on it, else takes its accidental from the
note it is tied from, the bar, or the key signature.

The semantic output has to carry a sharp of the key signature, or one printed earlier in the bar, to every later
note on that line or space, and the shipped recognizer often does not: on the staff test split, 143 of its 602
errors were such accidentals (docs/decisions/0012-sign-head.md). The sign head sees what is printed, so a note
where it sees no sign (less than ``threshold`` of sign probability in the ``window`` frames before and at the
note) takes the accidental its context implies (:func:`zoo.notation.theory.implied_alter`), and a note where it
is sure of one sign (``printed_sure``) takes that sign's alteration: the token output, which carries pitches, not
signs, misses a printed sharp on a long or rare note (17 of the 26 accidentals still misread on the staff
validation staves were printed on the note; docs/decisions/0013-reading-rules.md). A respelling the vocabulary
lacks is not made.
"""
from __future__ import annotations

import tensorflow as tf

from zoo.decoding.config import Accidentals
from zoo.decoding.tables import NO_ALTER, NO_KEY, PLACES, Tables
from zoo.notation.printed import ALTER_OF_SIGN, SIGNS


def sign_evidence(config: Accidentals, head: tf.Tensor, frames: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per token [B, L]: the most probability of any sign in the ``config.window`` frames before and at its first
    frame, and the alteration of the one sign the head gives at least ``config.printed_sure`` there
    (:data:`NO_ALTER`: none)."""
    signs = head[..., : len(SIGNS)]
    pad = [[0, 0], [config.window, 0], [0, 0]]
    per_sign = tf.nn.max_pool1d(tf.pad(signs, pad), config.window + 1, 1, "VALID")  # frame t: most over t-window..t
    any_sign = tf.nn.max_pool1d(tf.pad(tf.reduce_sum(signs, -1, keepdims=True), pad), config.window + 1, 1, "VALID")
    seen = tf.gather(any_sign[..., 0], frames, batch_dims=1)
    sure = tf.gather(per_sign, frames, batch_dims=1)  # [B, L, signs]
    printed = tf.where(tf.reduce_max(sure, -1) >= config.printed_sure,
                       tf.gather(tf.constant(ALTER_OF_SIGN, tf.int32), tf.argmax(sure, -1, output_type=tf.int32)),
                       NO_ALTER)
    return seen, printed


def read(tables: Tables, config: Accidentals, ids: tf.Tensor, evidence: tf.Tensor, printed: tf.Tensor) -> tf.Tensor:
    """ids [B, L] (padded with the blank), each token's sign ``evidence`` [B, L] and ``printed`` alteration
    [B, L] → ids with each note's accidental from the printed sign or its context. The reading walks each staff
    left to right, keeping each bar's alterations per line and space, the key in force and the last note (for
    ties)."""
    ids = tf.cast(ids, tf.int32)
    evidence = tf.where(ids == tables.blank, 1.0, evidence)
    batch = tf.shape(ids)[0]
    zeros = tf.zeros([batch], tf.int32)
    no = tf.zeros([batch], bool)

    def step(k, out, bar, fifths, prev_place, prev_alter, have_prev, tie):
        token = ids[:, k]
        note, place, alter = (tf.gather(t, token) for t in (tables.is_note, tables.place, tables.alter))
        tied = tie & have_prev
        from_bar = tf.gather(bar, place, batch_dims=1)
        from_key = tf.gather_nd(tables.key_alter, tf.stack([fifths + 7, place // 10], 1))
        implied = tf.where(tied & (prev_place == place), prev_alter,
                           tf.where(from_bar != NO_ALTER, from_bar, from_key))
        change = note & (evidence[:, k] < config.threshold)
        sure = note & ~change & (printed[:, k] != NO_ALTER)
        implied = tf.where(sure, printed[:, k], implied)
        candidate = tf.gather(tf.gather(tables.respelled, token), tf.clip_by_value(implied + 2, 0, 4), batch_dims=1)
        new_token = tf.where(change | sure, candidate, token)
        new_alter = tf.gather(tables.alter, new_token)
        here = tf.one_hot(place, PLACES, on_value=True, off_value=False) & (note & ~tied)[:, None]
        bar = tf.where(here, new_alter[:, None], bar)
        bar = tf.where(tf.gather(tables.barline, token)[:, None], NO_ALTER, bar)
        key = tf.gather(tables.fifths, token)
        fifths = tf.where(key != NO_KEY, key, fifths)
        return (k + 1, out.write(k, new_token), bar, fifths, tf.where(note, place, prev_place),
                tf.where(note, new_alter, prev_alter), have_prev | note,
                tf.where(note, False, tie | tf.gather(tables.tie, token)))

    length = tf.shape(ids)[1]

    def run() -> tf.Tensor:
        out = tf.TensorArray(tf.int32, size=length)
        start = (0, out, tf.fill([batch, PLACES], NO_ALTER), zeros, zeros, zeros, no, no)
        _, out, *_ = tf.while_loop(lambda k, *_: k < length, step, start)
        return tf.transpose(out.stack(), [1, 0])

    return tf.cond(length > 0, run, lambda: ids)  # an empty TensorArray cannot be stacked
