"""From CNN feature maps to the per-column sequence that the recurrent part reads.

``MultiscaleFusion`` (the seed paper's Figure 1) fuses a shallow, high-resolution map (where a symbol sits,
its edges) with a deep, semantic map (what it is) before the BiSRU; ``ColumnSequence`` is the no-fusion
ablation that reads the deep map alone. Both keep the deep map's width as the time axis: the output
sequence length is the deep map's width, so the CTC lengths are the backbone's, unchanged.

Heights are static (images are height-normalized); widths are dynamic (variable-width images).
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

MODES = ("concat", "sum")


def columns(feature_map: tf.Tensor) -> tf.Tensor:
    """[B, H, W, C] → [B, W, H·C]: each column's whole height as one feature vector (H and C static)."""
    _, height, _, channels = feature_map.shape
    if height is None or channels is None:
        raise ValueError(f"height and channels must be static, got shape {feature_map.shape}")
    shape = tf.shape(feature_map)
    return tf.reshape(tf.transpose(feature_map, [0, 2, 1, 3]), [shape[0], shape[2], height * channels])


def column_windows(in_width: tf.Tensor, out_width: tf.Tensor,
                   factor: int | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """[start, end) of the input columns that each output column averages.

    With ``factor`` f: blocks [j·f, (j+1)·f) cut at the input's width (a short last block is averaged over the
    columns it has; input columns past out_width·f are dropped) — the blocks of a CNN's width-f pooling or
    striding with "same" padding. Without: adaptive pooling, [⌊j·W1/W2⌋, ⌈(j+1)·W1/W2⌉), which is the same
    when W1 = f·W2 and otherwise spreads the remainder evenly.
    """
    j = tf.range(out_width)
    if factor is not None:
        start = tf.minimum(j * factor, in_width)
        return start, tf.minimum(start + factor, in_width)
    return (j * in_width) // out_width, -((-(j + 1) * in_width) // out_width)


def pool_width(feature_map: tf.Tensor, out_width: tf.Tensor, factor: int | None = None) -> tf.Tensor:
    """Average-pool [B, H, W1, C] along width to [B, H, out_width, C] over ``column_windows``; empty windows give 0."""
    start, end = column_windows(tf.shape(feature_map)[2], out_width, factor)
    size = end - start
    offsets = tf.range(tf.reduce_max(size))
    index = tf.minimum(start[:, None] + offsets, tf.maximum(end[:, None] - 1, 0))  # [W2, K]
    inside = tf.cast(offsets < size[:, None], feature_map.dtype)
    weights = inside / tf.cast(tf.maximum(size, 1), feature_map.dtype)[:, None]
    gathered = tf.gather(feature_map, index, axis=2)  # [B, H, W2, K, C]
    return tf.reduce_sum(gathered * weights[:, :, None], axis=3)


@tf.keras.utils.register_keras_serializable(package="scorezoo")
class ColumnSequence(tf.keras.layers.Layer):
    """Deep map [B, H, W, C] → sequence [B, W, units]: height collapsed into features, then a Dense."""

    def __init__(self, units: int, activation: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = tf.keras.activations.get(activation)
        self.projection = tf.keras.layers.Dense(self.units, activation=self.activation, name="projection")

    def call(self, inputs):
        return self.projection(columns(inputs))

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape)
        return tf.TensorShape([shape[0], shape[2], self.units])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, activation=tf.keras.activations.serialize(self.activation))
        return config


@tf.keras.utils.register_keras_serializable(package="scorezoo")
class MultiscaleFusion(tf.keras.layers.Layer):
    """[shallow [B, H1, W1, C1], deep [B, H2, W2, C2]] → [B, W2, units] (``mode="sum"``) or [B, W2, 2·units].

    The shallow map is average-pooled along width to the deep map's W2 columns (``pool_width``: blocks of
    ``width_factor`` columns, e.g. the backbone's width downsampling from shallow to deep, or adaptive pooling
    when it is None), then each map's columns (height × channels) get their own Dense to ``units``, and the two
    are concatenated or summed. Pooling before the Dense is the same as after (both linear) and cheaper.
    The output length is W2, the deep map's width.
    """

    def __init__(self, units: int, mode: str = "concat", width_factor: int | None = None,
                 activation: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if width_factor is not None and int(width_factor) < 1:
            raise ValueError(f"width_factor must be a positive integer or None, got {width_factor!r}")
        self.units = int(units)
        self.mode = mode
        self.width_factor = None if width_factor is None else int(width_factor)
        self.activation = tf.keras.activations.get(activation)
        self.shallow = tf.keras.layers.Dense(self.units, activation=self.activation, name="shallow_projection")
        self.deep = tf.keras.layers.Dense(self.units, activation=self.activation, name="deep_projection")

    def call(self, inputs):
        shallow, deep = inputs
        shallow = pool_width(shallow, tf.shape(deep)[2], self.width_factor)
        fused = [self.shallow(columns(shallow)), self.deep(columns(deep))]
        return tf.concat(fused, -1) if self.mode == "concat" else tf.add_n(fused)

    def compute_output_shape(self, input_shape):
        deep = tf.TensorShape(input_shape[1])
        return tf.TensorShape([deep[0], deep[2], self.units * (2 if self.mode == "concat" else 1)])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, mode=self.mode, width_factor=self.width_factor,
                      activation=tf.keras.activations.serialize(self.activation))
        return config
