"""Graph helpers every family's ``preprocessing_fn`` uses on raw features (one definition, not one per module)."""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


def column(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """A [batch] tensor of a one-value-per-example feature, whether the schema made it [B], [B, 1] or sparse."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(x)
    return tf.reshape(x, [-1])


def label_index(values: tf.Tensor, labels: Sequence[str]) -> tf.Tensor:
    """int64 index of each string of ``values`` in ``labels`` (the model's output order), -1 for an unknown one.

    A fixed list, not ``tft.compute_and_apply_vocabulary``: the served labels are the zoo model's, whatever the
    data holds. Unknown labels never reach training: the schema's string domain stops them at validation.
    """
    matches = tf.equal(tf.expand_dims(values, -1), tf.constant(list(labels)))
    index = tf.argmax(tf.cast(matches, tf.int32), axis=-1, output_type=tf.int64)
    return tf.where(tf.reduce_any(matches, axis=-1), index, tf.constant(-1, tf.int64))
