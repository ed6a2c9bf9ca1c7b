"""Reading a file's header bytes inside a TensorFlow graph, so that a serving signature can check what an input
claims (an image's size, an audio stream's rate) before it decodes anything."""
from __future__ import annotations

import tensorflow as tf


def substr(data: tf.Tensor, pos: tf.Tensor | int, length: int) -> tf.Tensor:
    """Exactly ``length`` bytes of ``data`` from ``pos``, zero-padded past the end, so header reads never fail."""
    padded = tf.strings.join([data, tf.constant(b"\0" * length)])
    pos = tf.minimum(tf.cast(pos, tf.int32), tf.strings.length(data))
    return tf.strings.substr(padded, pos, length)


def bytes_at(data: tf.Tensor, pos: tf.Tensor | int, length: int) -> tf.Tensor:
    """Header bytes as int32 [length] for bit arithmetic."""
    raw = tf.io.decode_raw(substr(data, pos, length), tf.uint8, fixed_length=length)
    return tf.cast(raw, tf.int32)


def bits(x: tf.Tensor, shift: int, mask: int) -> tf.Tensor:
    return tf.bitwise.bitwise_and(tf.bitwise.right_shift(x, shift), mask)


def uint(data: tf.Tensor, pos: int, length: int, big_endian: bool) -> tf.Tensor:
    """An unsigned integer of ``length`` (≤ 4) bytes at ``pos``, as int64 (a 32-bit value never overflows)."""
    values = tf.cast(bytes_at(data, pos, length), tf.int64)
    weights = [256 ** (length - 1 - i) if big_endian else 256 ** i for i in range(length)]
    return tf.reduce_sum(values * tf.constant(weights, tf.int64))
