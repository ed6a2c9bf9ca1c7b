"""A doubted key signature settled by the head's count of its sharps or flats.

The token output has to tell E♭ from A♭ major as two whole classes, and in a clef it has seen little it may not
(the PrIMuS fixture's E♭ major in the C1 clef, read as A♭ major). The head reads a key signature sign by sign,
but its count is not as sure as the token output's key (on validation staves it miscounts more often), so it
only settles a key the token output doubts (below ``doubt``) where the output's second choice is the key the head
counts (tuned on the staff-keys supplements' validation staves; docs/decisions/0012-sign-head.md). The key comes
first, since the notes take their accidentals from it.
"""
from __future__ import annotations

import tensorflow as tf

from zoo.decoding import ctc
from zoo.decoding.config import Key
from zoo.decoding.tables import NO_KEY, Tables
from zoo.notation.printed import ALPHABET


def counted(head: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
    """Per staff [B]: the sharps (> 0) or flats (< 0) of the first key signature in the head's greedy reading of
    its softmax [B, T, A+1] (the run of key signs after its first ``keySignature``), :data:`NO_KEY` if it reads
    none, or sharps and flats mixed, or more than seven."""
    labels = ctc.greedy(head, lengths).ids
    labels = tf.pad(labels, [[0, 0], [0, 1]], constant_values=len(ALPHABET))  # argmax needs a column
    position = tf.range(tf.shape(labels)[1])[None, :]
    is_kind = labels == ALPHABET.index("keySignature")
    first = tf.argmax(tf.cast(is_kind, tf.int32), 1, output_type=tf.int32)[:, None]
    sharp, flat = labels == ALPHABET.index("key-sharp"), labels == ALPHABET.index("key-flat")
    ends = (position > first) & ~(sharp | flat)
    end = tf.where(tf.reduce_any(ends, 1), tf.argmax(tf.cast(ends, tf.int32), 1, output_type=tf.int32),
                   tf.shape(labels)[1])[:, None]
    run = (position > first) & (position < end)
    sharps, flats = (tf.reduce_sum(tf.cast(run & x, tf.int32), 1) for x in (sharp, flat))
    valid = tf.reduce_any(is_kind, 1) & ((sharps == 0) | (flats == 0)) & (sharps + flats <= 7)
    return tf.where(valid, sharps - flats, NO_KEY)


def first_key(tables: Tables, ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per row of ids [B, L > 0]: where its first key signature is (0 if none), and whether it has one."""
    is_key = tf.gather(tables.fifths, ids) != NO_KEY
    return tf.argmax(tf.cast(is_key, tf.int32), 1, output_type=tf.int32), tf.reduce_any(is_key, 1)


def second_choice(tables: Tables, config: Key, ids: tf.Tensor, frames: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
    """Per staff [B]: the token output's second choice of key (fifths) at the first key signature it read, if it
    gave the key it read less than ``config.doubt`` there; else :data:`NO_KEY`."""
    ids, frames = (tf.pad(x, [[0, 0], [0, 1]], constant_values=v) for x, v in ((ids, tables.blank), (frames, 0)))
    first, has_key = first_key(tables, ids)
    read = tf.gather(ids, first, batch_dims=1)
    row = tf.gather(probs, tf.gather(frames, first, batch_dims=1), batch_dims=1)  # [B, V+1]
    doubt = has_key & (tf.gather(row, read, batch_dims=1) < config.doubt)
    others = (tables.fifths != NO_KEY)[None, :] & (tf.range(tf.shape(row)[1])[None, :] != read[:, None])
    second = tf.argmax(tf.where(others, row, -1.0), 1, output_type=tf.int32)
    return tf.where(doubt, tf.gather(tables.fifths, second), NO_KEY)


def settled(tables: Tables, config: Key, ids: tf.Tensor, frames: tf.Tensor, probs: tf.Tensor, head: tf.Tensor,
            lengths: tf.Tensor) -> tf.Tensor:
    """Per staff [B]: the key the head counts where the token output doubts its own and would choose that one
    next; else :data:`NO_KEY` (the read key stands)."""
    count = counted(head, lengths)
    return tf.where(count == second_choice(tables, config, ids, frames, probs), count, NO_KEY)


def with_key(tables: Tables, ids: tf.Tensor, key: tf.Tensor) -> tf.Tensor:
    """The first key signature in each row of ``ids`` made ``key`` (where not :data:`NO_KEY` and the vocabulary
    has that key's token)."""
    def change() -> tf.Tensor:
        first, has_key = first_key(tables, ids)
        new = tf.gather(tables.key_token, tf.clip_by_value(key, -7, 7) + 7)
        here = tf.one_hot(first, tf.shape(ids)[1], on_value=True, off_value=False) & \
            ((key != NO_KEY) & has_key & (new >= 0))[:, None]
        return tf.where(here, new[:, None], ids)

    return tf.cond(tf.shape(ids)[1] > 0, change, lambda: ids)
