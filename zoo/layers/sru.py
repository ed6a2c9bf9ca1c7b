"""Simple recurrent units (Lei et al., EMNLP 2018: "Simple Recurrent Units for Highly Parallelizable Recurrence").

    f_t = σ(W_f x_t + v_f ⊙ c_{t−1} + b_f)          c_t = f_t ⊙ c_{t−1} + (1 − f_t) ⊙ W x_t
    r_t = σ(W_r x_t + v_r ⊙ c_{t−1} + b_r)          h_t = r_t ⊙ g(c_t) + (1 − r_t) ⊙ x'_t

x'_t is x_t when the input size equals ``units``, else W_h x_t. The EMNLP paper's final form has g = identity
(``activation=None``); the earlier arXiv version used g = tanh, which is the default here (bounded outputs
for the CTC head).

Why it is fast: W, W_f, W_r (and W_h) for all time steps are one matrix product, and only c is sequential.
r_t depends on c_{t−1}, not on h, so r and h are computed for all steps after the scan. The scan is
element-wise, runs 8 steps per loop iteration (loop bookkeeping, not arithmetic, is the cost on CPU), and
its gradient is written by hand: a linear recurrence in dL/dc whose coefficients are known after the
forward pass. Together about 4× faster than differentiating through ``tf.scan``.

Masks: padded steps carry c unchanged and output zeros, so with a mask a padded sequence gives the
outputs of the unpadded one in both directions. ``SRU(go_backwards=True)`` reverses the whole sequence and
returns outputs in reversed order, like Keras RNNs, so ``tf.keras.layers.Bidirectional(SRU(...))`` works;
``BidirectionalSRU`` is the same computation as one layer with one config.
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

# Pre-activation for the input gate 1 − f_t on padded steps: σ(−1e9) == 0, so c_t = c_{t−1} exactly.
_CLOSED = -1e9
_UNROLL = 8  # steps per while-loop iteration: loop control and TensorArray ops dominate a per-step loop on CPU


def _chunked_scan(step, elems: tuple[tf.Tensor, ...], initial: tf.Tensor, reverse: bool = False) -> tf.Tensor:
    """``tf.scan`` over axis 0 with ``_UNROLL`` steps unrolled per loop iteration (about 2× faster on CPU).

    The elements are zero-padded to whole chunks at the end; a reverse scan must keep a zero carry on zero
    elements (padding comes first), a forward one may do anything there (those outputs are dropped).
    """
    steps = tf.shape(elems[0])[0]
    chunks = tf.maximum((steps + _UNROLL - 1) // _UNROLL, 1)  # one chunk at least: stacking needs an element
    padded = [tf.pad(e, [[0, chunks * _UNROLL - steps]] + [[0, 0]] * (e.shape.rank - 1)) for e in elems]
    order = range(_UNROLL - 1, -1, -1) if reverse else range(_UNROLL)

    def body(i, carry, outputs):
        chunk = chunks - 1 - i if reverse else i
        parts = [tf.unstack(e[chunk * _UNROLL:(chunk + 1) * _UNROLL], _UNROLL) for e in padded]
        out = [None] * _UNROLL
        for s in order:
            carry = out[s] = step(carry, [part[s] for part in parts])
        return i + 1, carry, outputs.write(chunk, tf.stack(out))

    outputs = tf.TensorArray(initial.dtype, chunks, element_shape=tf.TensorShape([_UNROLL]).concatenate(initial.shape))
    _, _, outputs = tf.while_loop(lambda i, *_: i < chunks, body, (0, initial, outputs))
    result = tf.reshape(outputs.stack(), tf.concat([[chunks * _UNROLL], tf.shape(initial)], 0))[:steps]
    result.set_shape(tf.TensorShape([None]).concatenate(initial.shape))
    return result


def _shift(seq: tf.Tensor, back: bool = True) -> tf.Tensor:
    """seq_{t−1} (or seq_{t+1} if not ``back``) along time (axis 0), zeros past the ends."""
    if back:
        return tf.concat([tf.zeros_like(seq[:1]), seq[:-1]], 0)
    return tf.concat([seq[1:], tf.zeros_like(seq[:1])], 0)


@tf.custom_gradient
def cell_recurrence(xw: tf.Tensor, gate_logits: tf.Tensor, gate_weights: tf.Tensor):
    """(c_t, c_{t−1}), each [T, B, N], from time-major candidates xw, input-gate logits a and weights u.

    i_t = σ(a_t + u ⊙ c_{t−1}) is the input gate 1 − f_t (so a = −(W_f x + b_f), u = −v_f) and
    c_t = c_{t−1} + i_t ⊙ (xw_t − c_{t−1}). The backward pass is the linear recurrence
    G_t = dL/dc_t + J_{t+1} ⊙ G_{t+1}, J_t = ∂c_t/∂c_{t−1} = 1 − i_t + k_t ⊙ u, k_t = i_t (1 − i_t)(xw_t − c_{t−1}),
    whose coefficients are all known after the forward pass.
    """
    def step(c: tf.Tensor, elems: list[tf.Tensor]) -> tf.Tensor:
        return c + tf.sigmoid(elems[1] + gate_weights * c) * (elems[0] - c)

    cells = _chunked_scan(step, (xw, gate_logits), tf.zeros(tf.shape(xw)[1:], xw.dtype))
    prev = _shift(cells)

    def grad(d_cells: tf.Tensor | None, d_prev: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        d_cells = tf.zeros_like(cells) if d_cells is None else d_cells
        if d_prev is not None:
            d_cells += _shift(d_prev, back=False)
        gate = tf.sigmoid(gate_logits + gate_weights * prev)
        k = gate * (1.0 - gate) * (xw - prev)
        jac_next = _shift(1.0 - gate + k * gate_weights, back=False)
        zeros = tf.zeros(tf.shape(cells)[1:], cells.dtype)
        total = _chunked_scan(lambda acc, e: e[0] + e[1] * acc, (d_cells, jac_next), zeros, reverse=True)
        d_logits = total * k
        return total * gate, d_logits, tf.reduce_sum(d_logits * prev, [0, 1])

    return (cells, prev), grad


def _project(x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """[T, B, D] @ [D, N] as one 2-D matmul."""
    shape = tf.shape(x)
    flat = tf.matmul(tf.reshape(x, [-1, shape[-1]]), kernel)
    return tf.reshape(flat, tf.concat([shape[:-1], tf.shape(kernel)[-1:]], 0))


def _time_major(inputs: tf.Tensor, mask: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor | None]:
    """[B, T, D] → [T, B, D]; mask [B, T] → valid [T, B, 1] (bool) or None."""
    valid = None
    if mask is not None:  # transposed as float: oneDNN logs an error for bool/int transposes without AVX-512
        # (a select, not a cast: grappler moves casts after transposes, back to a bool transpose)
        valid = tf.transpose(tf.where(tf.cast(mask, tf.bool), 1.0, 0.0))[:, :, None] > 0.5
    return tf.transpose(inputs, [1, 0, 2]), valid


def _reverse_time(x: tf.Tensor, valid: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor | None]:
    """Reverse time-major inputs and mask; padded steps come first and leave the state at zero."""
    return tf.reverse(x, [0]), None if valid is None else tf.reverse(valid, [0])


def _last_valid(h: tf.Tensor, valid: tf.Tensor | None) -> tf.Tensor:
    """Time-major [T, B, N] → [B, N]: the output at each sequence's last unmasked step (in processing order)."""
    if valid is None:
        return h[-1]
    from_end = tf.argmax(tf.cast(tf.reverse(valid[:, :, 0], [0]), tf.int32), 0, output_type=tf.int32)
    last = tf.shape(h)[0] - 1 - from_end
    return tf.gather(tf.transpose(h, [1, 0, 2]), last, axis=1, batch_dims=1)


class _SRUConfig(tf.keras.layers.Layer):
    """Hyper-parameters, masking and config shared by the one- and two-direction layers."""

    directions = 1

    def __init__(self, units: int, activation: str | None = "tanh", return_sequences: bool = True,
                 dropout: float = 0.0, kernel_initializer: Any = "lecun_uniform",
                 recurrent_initializer: Any = None, bias_initializer: Any = "zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = tf.keras.activations.get(activation)
        self.return_sequences = return_sequences
        self.return_state = False
        self.stateful = False
        self.dropout = float(dropout)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        # v_f, v_r: small, so the gates start close to the input-only gates of the first SRU version
        self.recurrent_initializer = tf.keras.initializers.get(
            recurrent_initializer or tf.keras.initializers.RandomUniform(-0.5, 0.5))
        self.bias_initializer = tf.keras.initializers.get(bias_initializer)
        self.supports_masking = True
        self.input_spec = tf.keras.layers.InputSpec(ndim=3)

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape)
        width = self.directions * self.units
        return shape[:-1].concatenate([width]) if self.return_sequences else shape[:1].concatenate([width])

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": tf.keras.activations.serialize(self.activation),
            "return_sequences": self.return_sequences,
            "dropout": self.dropout,
            "kernel_initializer": tf.keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": tf.keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": tf.keras.initializers.serialize(self.bias_initializer),
        })
        return config


@tf.keras.utils.register_keras_serializable(package="scorezoo")
class SRU(_SRUConfig):
    """One-direction SRU over [B, T, D] → [B, T, units] (or [B, units] without ``return_sequences``).

    Weights: ``kernel`` [D, 3·units] (W, W_f, W_r) or [D, 4·units] (+ W_h); ``recurrent_weights`` [v_f, v_r];
    ``bias`` [b_f, b_r]. With ``go_backwards`` the output is in reversed time order, as for Keras RNNs.
    Input dropout is variational (one mask for all steps) and feeds the matrix product, not the identity skip.
    """

    def __init__(self, units: int, go_backwards: bool = False, **kwargs):
        super().__init__(units, **kwargs)
        self.go_backwards = go_backwards
        self._input_dropout = tf.keras.layers.Dropout(self.dropout, noise_shape=(1, None, None))  # time-major

    def build(self, input_shape):
        features = int(input_shape[-1])
        self.input_spec = tf.keras.layers.InputSpec(ndim=3, axes={-1: features})
        self.projects_skip = features != self.units
        groups = 4 if self.projects_skip else 3
        self.kernel = self.add_weight("kernel", (features, groups * self.units), initializer=self.kernel_initializer)
        self.recurrent_weights = self.add_weight("recurrent_weights", (2 * self.units,),
                                                 initializer=self.recurrent_initializer)
        self.bias = self.add_weight("bias", (2 * self.units,), initializer=self.bias_initializer)
        super().build(input_shape)

    def call(self, inputs, mask=None, training=None):
        x, valid = _time_major(inputs, mask)
        if self.go_backwards:
            x, valid = _reverse_time(x, valid)
        h = self.recurrence(x, valid, training)
        return tf.transpose(h, [1, 0, 2]) if self.return_sequences else _last_valid(h, valid)

    def recurrence(self, x: tf.Tensor, valid: tf.Tensor | None, training=None) -> tf.Tensor:
        """Time-major [T, B, D] → h [T, B, units] in processing order, zero on padded steps."""
        proj = _project(self._input_dropout(x, training=training), self.kernel)
        xw, xf, xr, *xh = tf.split(proj, 3 + self.projects_skip, axis=-1)
        v_f, v_r = tf.split(self.recurrent_weights, 2)
        b_f, b_r = tf.split(self.bias, 2)
        gate_logits = -b_f - xf  # logits of 1 − f_t
        if valid is not None:
            gate_logits = tf.where(valid, gate_logits, tf.cast(_CLOSED, gate_logits.dtype))
        cells, prev = cell_recurrence(xw, gate_logits, -v_f)
        reset = tf.sigmoid(xr + (v_r * prev + b_r))
        skip = xh[0] if xh else x
        h = skip + reset * (self.activation(cells) - skip)
        return h if valid is None else tf.where(valid, h, tf.zeros_like(h))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "go_backwards": self.go_backwards}


@tf.keras.utils.register_keras_serializable(package="scorezoo")
class BidirectionalSRU(_SRUConfig):
    """Forward and backward SRU, outputs concatenated: [B, T, D] → [B, T, 2·units] (masks and padding aware).

    The backward direction starts at each sequence's last unmasked step, so with a mask a padded sequence
    gives the same outputs as the unpadded one (what CTC on padded variable-width batches needs). It reverses
    the whole padded batch and lets the mask skip the padding, which now comes first and leaves c at zero:
    for right-padded masks the same as ``tf.reverse_sequence`` within each length, and ~4× cheaper on CPU.
    Without a mask, padding is read as data. The two directions are independent scans, which TensorFlow
    runs concurrently. Weights live in ``forward_layer`` and ``backward_layer`` (two ``SRU``s).
    """

    directions = 2

    def __init__(self, units: int, **kwargs):
        super().__init__(units, **kwargs)
        config = {key: value for key, value in self.get_config().items() if key not in ("name", "trainable")}
        config.update(return_sequences=True, dtype=self.dtype_policy)
        self.forward_layer = SRU(name="forward", **config)
        self.backward_layer = SRU(go_backwards=True, name="backward", **config)

    def build(self, input_shape):
        for layer in (self.forward_layer, self.backward_layer):
            with tf.name_scope(layer.name):
                layer.build(input_shape)
        self.input_spec = self.forward_layer.input_spec
        super().build(input_shape)

    def call(self, inputs, mask=None, training=None):
        x, valid = _time_major(inputs, mask)
        x_reversed, valid_reversed = _reverse_time(x, valid)
        forward = self.forward_layer.recurrence(x, valid, training)
        backward = self.backward_layer.recurrence(x_reversed, valid_reversed, training)
        if not self.return_sequences:
            return tf.concat([_last_valid(forward, valid), _last_valid(backward, valid_reversed)], -1)
        return tf.transpose(tf.concat([forward, tf.reverse(backward, [0])], -1), [1, 0, 2])
