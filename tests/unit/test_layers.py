"""zoo.layers: SRU against a step-by-step numpy reference, residual block, multiscale fusion, save/load."""
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import (
    SRU,
    BidirectionalSRU,
    ColumnSequence,
    MultiscaleFusion,
    ResidualBlock,
    cell_recurrence,
    column_windows,
    pool_width,
)

UNITS = 4
LENGTHS = np.array([7, 4, 1])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference_sru(x, kernel, recurrent_weights, bias, activation=np.tanh):
    """The paper's equations, one step at a time, on one unpadded sequence [T, D] → [T, units]."""
    units = bias.shape[0] // 2
    v_f, v_r = recurrent_weights[:units], recurrent_weights[units:]
    b_f, b_r = bias[:units], bias[units:]
    c = np.zeros(units)
    outputs = []
    for x_t in x.astype(np.float64):
        proj = x_t @ kernel
        w, f, r = proj[:units], proj[units:2 * units], proj[2 * units:3 * units]
        skip = proj[3 * units:] if kernel.shape[1] == 4 * units else x_t
        forget = _sigmoid(f + v_f * c + b_f)
        reset = _sigmoid(r + v_r * c + b_r)
        c = forget * c + (1 - forget) * w
        outputs.append(reset * activation(c) + (1 - reset) * skip)
    return np.array(outputs).reshape(len(x), units)


def _weights(layer):
    return [w.numpy().astype(np.float64) for w in (layer.kernel, layer.recurrent_weights, layer.bias)]


def _batch(features, seed=0):
    """Random [3, 7, features] inputs with lengths 7, 4, 1 (right-padded with garbage) and their mask."""
    x = np.random.default_rng(seed).normal(size=(len(LENGTHS), LENGTHS.max(), features)).astype(np.float32)
    return x, np.arange(LENGTHS.max())[None] < LENGTHS[:, None]


def _sru(**kwargs):
    # non-zero biases, so the reference checks the bias layout too
    return SRU(UNITS, bias_initializer=tf.keras.initializers.RandomNormal(seed=1), **kwargs)


@pytest.mark.parametrize("features", [UNITS, 6], ids=["identity-skip", "projected-skip"])
@pytest.mark.parametrize("activation", ["tanh", None])
def test_sru_matches_reference(features, activation):
    x, _ = _batch(features)
    layer = _sru(activation=activation)
    y = layer(x).numpy()
    assert layer.kernel.shape == (features, (3 if features == UNITS else 4) * UNITS)
    g = np.tanh if activation else (lambda c: c)
    for i in range(len(x)):
        np.testing.assert_allclose(y[i], reference_sru(x[i], *_weights(layer), g), atol=1e-5)


def test_sru_mask_carries_state_and_zeros_padding():
    x, mask = _batch(6)
    layer = _sru()
    y = layer(x, mask=mask).numpy()
    assert np.all(y[~mask] == 0)
    for i, n in enumerate(LENGTHS):
        np.testing.assert_allclose(y[i, :n], reference_sru(x[i, :n], *_weights(layer)), atol=1e-5)
    # a hole in the mask is skipped: the state carries over it
    hole = mask.copy()
    hole[0, 2] = False
    y = layer(x, mask=hole).numpy()
    expected = reference_sru(np.delete(x[0], 2, 0), *_weights(layer))
    np.testing.assert_allclose(np.delete(y[0], 2, 0), expected, atol=1e-5)


def test_sru_go_backwards_and_last_output():
    x, mask = _batch(6)
    layer = _sru(go_backwards=True)
    y = layer(x, mask=mask).numpy()[:, ::-1]  # Keras convention: outputs come in processing order
    last = _sru(go_backwards=True, return_sequences=False)
    last(x[:1])
    last.set_weights(layer.get_weights())
    y_last = last(x, mask=mask).numpy()
    forward_last = _sru(return_sequences=False)
    forward_last(x[:1])
    forward_last.set_weights(layer.get_weights())
    y_forward_last = forward_last(x, mask=mask).numpy()
    for i, n in enumerate(LENGTHS):
        expected = reference_sru(x[i, :n][::-1], *_weights(layer))[::-1]
        np.testing.assert_allclose(y[i, :n], expected, atol=1e-5)
        np.testing.assert_allclose(y_last[i], expected[0], atol=1e-5)
        np.testing.assert_allclose(y_forward_last[i], reference_sru(x[i, :n], *_weights(layer))[-1], atol=1e-5)
    assert np.all(y[~mask] == 0)


@pytest.mark.parametrize("wrapper", ["BidirectionalSRU", "keras.Bidirectional"])
@pytest.mark.parametrize("features", [UNITS, 6])
def test_bidirectional_variable_lengths(wrapper, features):
    x, mask = _batch(features)
    if wrapper == "BidirectionalSRU":
        layer = BidirectionalSRU(UNITS, bias_initializer=tf.keras.initializers.RandomNormal(seed=1))
    else:
        layer = tf.keras.layers.Bidirectional(_sru())
    y = layer(x, mask=mask).numpy()
    assert y.shape == (*x.shape[:2], 2 * UNITS) and np.all(y[~mask] == 0)
    forward, backward = _weights(layer.forward_layer), _weights(layer.backward_layer)
    for i, n in enumerate(LENGTHS):
        np.testing.assert_allclose(y[i, :n, :UNITS], reference_sru(x[i, :n], *forward), atol=1e-5)
        np.testing.assert_allclose(y[i, :n, UNITS:], reference_sru(x[i, :n][::-1], *backward)[::-1], atol=1e-5)
        # the backward pass of the padded sequence equals that of the unpadded one
        np.testing.assert_allclose(y[i, :n], layer(x[i:i + 1, :n]).numpy()[0], atol=1e-5)


def test_bidirectional_sru_last_output_and_config():
    x, mask = _batch(6)
    layer = BidirectionalSRU(UNITS, return_sequences=False, activation=None, dropout=0.1, name="bi")
    y = layer(x, mask=mask).numpy()
    for i, n in enumerate(LENGTHS):
        assert np.allclose(y[i, :UNITS], reference_sru(x[i, :n], *_weights(layer.forward_layer), lambda c: c)[-1],
                           atol=1e-5)
        assert np.allclose(y[i, UNITS:], reference_sru(x[i, :n][::-1], *_weights(layer.backward_layer),
                                                       lambda c: c)[-1], atol=1e-5)
    clone = BidirectionalSRU.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.compute_output_shape((None, None, 6)).as_list() == [None, 2 * UNITS]
    wrapped = tf.keras.layers.Bidirectional(SRU(UNITS, go_backwards=False))
    assert tf.keras.layers.Bidirectional.from_config(wrapped.get_config()).backward_layer.go_backwards


@pytest.mark.parametrize("steps", [9, 16])  # a partial and a whole number of unrolled chunks
def test_custom_gradient_matches_autodiff(steps):
    rng = np.random.default_rng(3)
    xw, logits = (tf.constant(rng.normal(size=(steps, 2, 3))) for _ in range(2))
    logits = tf.where(tf.constant(rng.random((steps, 2, 1)) < 0.3), tf.constant(-1e9, tf.float64), logits)
    u = tf.constant(rng.uniform(-0.5, 0.5, 3))
    weights = [tf.constant(rng.normal(size=(steps, 2, 3))) for _ in range(2)]

    def autodiff(xw, logits, u):
        def step(c, e):
            return c + tf.sigmoid(e[1] + u * c) * (e[0] - c)
        cells = tf.scan(step, (xw, logits), initializer=tf.zeros_like(xw[0]))
        return cells, tf.concat([tf.zeros_like(cells[:1]), cells[:-1]], 0)

    results = []
    for fn in (cell_recurrence, autodiff):
        with tf.GradientTape() as tape:
            tape.watch([xw, logits, u])
            cells, prev = fn(xw, logits, u)
            loss = tf.reduce_sum(tf.sin(cells) * weights[0]) + tf.reduce_sum(prev * weights[1])
        results.append([cells, prev, *tape.gradient(loss, [xw, logits, u])])
    for custom, auto in zip(*results):
        np.testing.assert_allclose(custom.numpy(), auto.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("features", [UNITS, 6])
def test_gradients_finite_and_nonzero(features):
    x, mask = _batch(features)
    layer = BidirectionalSRU(UNITS)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x, mask=mask, training=True) - 0.3))
    grads = tape.gradient(loss, layer.trainable_variables)
    assert len(grads) == 6
    for var, grad in zip(layer.trainable_variables, grads):
        assert grad is not None and np.all(np.isfinite(grad)), var.name
        assert np.any(grad.numpy() != 0), var.name


def _sequence_model(features=6):
    inputs = tf.keras.Input((None, features))
    x = tf.keras.layers.Masking(0.0)(inputs)
    x = BidirectionalSRU(UNITS, name="bisru")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="head")(x))


def test_bidirectional_sru_save_and_load(tmp_path):
    x, mask = _batch(6)
    x = x * mask[..., None]  # padding as zeros, for Masking
    model = _sequence_model()
    expected = model(x).numpy()

    model.save_weights(tmp_path / "w.h5")
    restored = _sequence_model()
    assert not np.allclose(restored(x).numpy(), expected)
    restored.load_weights(tmp_path / "w.h5")
    np.testing.assert_allclose(restored(x).numpy(), expected, atol=1e-6)

    clone = tf.keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), expected, atol=1e-6)

    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda x: {"logits": model(x, training=False)},
                               input_signature=[tf.TensorSpec([None, None, 6], tf.float32, name="x")])
    tf.saved_model.save(module, str(tmp_path / "saved"), signatures={"serving_default": module.serve})
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(loaded.serve(tf.constant(x))["logits"].numpy(), expected, atol=1e-6)
    served = loaded.signatures["serving_default"](x=tf.constant(x[1:, :5]))["logits"].numpy()
    np.testing.assert_allclose(served, expected[1:, :5], atol=1e-6)


@pytest.mark.parametrize("filters, strides, projects, out_hw", [
    (8, 1, False, (16, 10)),
    (12, 1, True, (16, 10)),
    (8, 2, True, (8, 5)),
    (8, (2, 1), True, (8, 10)),
])
def test_residual_block_shapes(filters, strides, projects, out_hw):
    block = ResidualBlock(filters, strides=strides)
    y = block(tf.random.normal([2, 16, 10, 8]), training=True)
    assert y.shape == (2, *out_hw, filters)
    assert block.compute_output_shape((2, 16, 10, 8)).as_list() == list(y.shape)
    assert block.projects == projects
    assert len(block.trainable_weights) == (9 if projects else 6)
    assert ResidualBlock.from_config(block.get_config()).get_config() == block.get_config()
    assert float(tf.reduce_min(y)) < 0  # LeakyReLU lets negatives through


def test_pool_width_windows():
    x = tf.reshape(tf.range(10, dtype=tf.float32), [1, 1, 10, 1])
    exact = pool_width(x, 5, 2)
    np.testing.assert_allclose(exact.numpy().ravel(), [0.5, 2.5, 4.5, 6.5, 8.5])
    np.testing.assert_allclose(pool_width(x, 5).numpy(), exact.numpy())  # adaptive = blocks for exact multiples
    np.testing.assert_allclose(pool_width(x[:, :, :9], 5, 2).numpy().ravel(), [0.5, 2.5, 4.5, 6.5, 8])  # short
    np.testing.assert_allclose(pool_width(x, 3, 3).numpy().ravel(), [1, 4, 7])  # column 9 cropped
    start, end = column_windows(tf.constant(10), tf.constant(4))
    assert start.numpy().tolist() == [0, 2, 5, 7] and end.numpy().tolist() == [3, 5, 8, 10]


@pytest.mark.parametrize("mode, width_factor", [("concat", 2), ("sum", None)])
def test_multiscale_fusion_dynamic_width(mode, width_factor):
    fusion = MultiscaleFusion(5, mode=mode, width_factor=width_factor)
    sequence = ColumnSequence(5)
    spec = [tf.TensorSpec([None, 8, None, 3]), tf.TensorSpec([None, 4, None, 6])]

    @tf.function(input_signature=spec)
    def run(shallow, deep):
        return fusion([shallow, deep]), sequence(deep)

    width = 10 if mode == "concat" else 5
    for w1, w2 in ((20, 10), (19, 10), (21, 10), (7, 2)):
        fused, ablation = run(tf.random.normal([2, 8, w1, 3]), tf.random.normal([2, 4, w2, 6]))
        assert fused.shape == (2, w2, width) and ablation.shape == (2, w2, 5)
    assert fusion.compute_output_shape([(2, 8, None, 3), (2, 4, None, 6)]).as_list() == [2, None, width]
    assert fusion.shallow.kernel.shape == (8 * 3, 5) and fusion.deep.kernel.shape == (4 * 6, 5)
    assert MultiscaleFusion.from_config(fusion.get_config()).get_config() == fusion.get_config()
    with pytest.raises(ValueError):
        MultiscaleFusion(5, mode="mean")


def test_tiny_model_compiles_and_fits(tmp_path):
    """Both sequence paths in one model: fusion → BiSRU and the ablation, deep columns → Bidirectional(SRU)."""
    image = tf.keras.Input((16, None, 1))
    shallow = ResidualBlock(4)(ResidualBlock(4, strides=(2, 1))(image))  # [8, W]; projected, then identity
    deep = ResidualBlock(8, strides=2)(ResidualBlock(8, strides=(1, 2))(shallow))  # [4, W/4]
    fused = BidirectionalSRU(6, dropout=0.1)(MultiscaleFusion(8, width_factor=4)([shallow, deep]))
    ablation = tf.keras.layers.Bidirectional(SRU(6, dropout=0.1))(ColumnSequence(8)(deep))
    outputs = tf.keras.layers.Dense(5, activation="softmax")(tf.keras.layers.Concatenate()([fused, ablation]))
    model = tf.keras.Model(image, outputs)
    model.compile(tf.keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    images, labels = rng.normal(size=(4, 16, 24, 1)), rng.integers(0, 5, (4, 6))
    history = model.fit(images, labels, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(rng.normal(size=(1, 16, 32, 1)), verbose=0).shape == (1, 8, 5)
    model.save_weights(tmp_path / "tiny.h5")
    model.load_weights(tmp_path / "tiny.h5")
