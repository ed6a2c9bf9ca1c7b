"""The one CTC training step of the score recognizers and of their sign head.

The network learns tokens from staff images, the head learns what is printed from the frozen network's features;
both are sequence outputs trained with CTC (the blank last), so they share the loss and the update.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf


def ctc_loss(labels: tf.Tensor, logits: tf.Tensor, frames: tf.Tensor, per_token: bool = True) -> tf.Tensor:
    """Mean CTC loss of a batch: ``labels`` [B, L] padded with -1, ``logits`` [B, T, C+1] (blank last), each
    sequence's frame count [B]. ``per_token`` divides each sequence's loss by its label count first, so long
    staves do not outweigh short ones (the recognizers); the head's loss is the plain mean."""
    label_length = tf.reduce_sum(tf.cast(labels >= 0, tf.int32), axis=1)
    loss = tf.nn.ctc_loss(tf.cast(tf.maximum(labels, 0), tf.int32), logits, label_length, frames,
                          logits_time_major=False, blank_index=-1)
    if per_token:
        loss = loss / tf.cast(tf.maximum(label_length, 1), tf.float32)
    return tf.reduce_mean(loss)


def make_train_step(net: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer,
                    frames_of: Callable[[Any], tf.Tensor], per_token: bool = True,
                    net_inputs: Callable[[Any], Any] = lambda inputs: inputs):
    """One CTC training step (forward, loss, backward, update) as a tf.function of (inputs, labels [B, L] padded
    with -1); ``net_inputs(inputs)`` is what the network reads of them and ``frames_of(inputs)`` each sequence's
    frame count. Returns the loss."""

    @tf.function(reduce_retracing=True)
    def train_step(inputs: Any, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = ctc_loss(labels, net(net_inputs(inputs), training=True), frames_of(inputs), per_token)
        optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables))
        return loss

    return train_step
