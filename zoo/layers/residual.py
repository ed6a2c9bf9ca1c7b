"""Residual convolution block (He et al., 2016, post-activation ordering) with LeakyReLU.

    y = LeakyReLU(BN(conv(LeakyReLU(BN(conv(x))))) + shortcut(x))

The shortcut is the identity, or a 1×1 conv + BN when the channels or strides change (He et al.'s option B),
so the block can downsample. LeakyReLU keeps a gradient for the many near-blank columns of a score image.
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """An int or a (height, width) pair as a tuple, so ``strides=(2, 1)`` can keep the time resolution."""
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


@tf.keras.utils.register_keras_serializable(package="scorezoo")
class ResidualBlock(tf.keras.layers.Layer):
    """Two conv → BN → LeakyReLU modules around a skip connection: [B, H, W, C] → [B, ⌈H/s_h⌉, ⌈W/s_w⌉, filters]."""

    def __init__(self, filters: int, kernel_size: int | tuple[int, int] = 3, strides: int | tuple[int, int] = 1,
                 leaky_alpha: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.leaky_alpha = float(leaky_alpha)
        self.conv1 = self._conv(self.kernel_size, self.strides, "conv1")
        self.bn1 = tf.keras.layers.BatchNormalization(name="bn1")
        self.conv2 = self._conv(self.kernel_size, 1, "conv2")
        self.bn2 = tf.keras.layers.BatchNormalization(name="bn2")
        self.shortcut_conv = self.shortcut_bn = None  # the projection, if build finds the shapes change

    def _conv(self, kernel_size, strides, name: str) -> tf.keras.layers.Conv2D:
        """Same-padded conv without bias (the BN after it supplies one)."""
        return tf.keras.layers.Conv2D(self.filters, kernel_size, strides, padding="same", use_bias=False,
                                      kernel_initializer="he_normal", name=name)

    @property
    def projects(self) -> bool:
        """Whether the shortcut is a 1×1 conv + BN projection (known once built)."""
        return self.shortcut_conv is not None

    def build(self, input_shape):
        if int(input_shape[-1]) != self.filters or self.strides != (1, 1):
            self.shortcut_conv = self._conv(1, self.strides, "shortcut_conv")
            self.shortcut_bn = tf.keras.layers.BatchNormalization(name="shortcut_bn")
        super().build(input_shape)

    def call(self, inputs, training=None):
        x = tf.nn.leaky_relu(self.bn1(self.conv1(inputs), training=training), self.leaky_alpha)
        x = self.bn2(self.conv2(x), training=training)
        shortcut = self.shortcut_bn(self.shortcut_conv(inputs), training=training) if self.projects else inputs
        return tf.nn.leaky_relu(x + shortcut, self.leaky_alpha)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = tf.TensorShape(input_shape).as_list()
        height, width = (None if size is None else -(-size // stride)
                         for size, stride in zip((height, width), self.strides))
        return tf.TensorShape([batch, height, width, self.filters])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      leaky_alpha=self.leaky_alpha)
        return config
