"""The weight average that genre-cnn training validates and saves."""
import numpy as np
import pytest
import tensorflow as tf

from zoo.training.averaging import WeightAverage


class _Recorder(tf.keras.callbacks.Callback):
    """The raw weights after every training step."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[list[np.ndarray]] = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([w.copy() for w in self.model.get_weights()])


def test_validation_and_final_weights_are_the_running_average():
    tf.keras.utils.set_random_seed(1)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype("float32")
    net = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
    net.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="mse")
    initial = [w.copy() for w in net.get_weights()]
    average, recorder = WeightAverage(0.9), _Recorder()
    # the recorder comes first: it sees the raw weights after each step, before any swap
    history = net.fit(x, y, batch_size=16, epochs=3, validation_data=(x, y), callbacks=[recorder, average],
                      shuffle=False, verbose=0)

    steps_per_epoch = 4
    expected_avg = [w.copy() for w in initial]
    expected_after_epoch = []
    for t, weights in enumerate(recorder.steps, start=1):
        d = min(0.9, (1 + t) / (10 + t))
        expected_avg = [d * a + (1 - d) * w for a, w in zip(expected_avg, weights)]
        if t % steps_per_epoch == 0:
            expected_after_epoch.append(expected_avg)
    # each epoch's validation loss is the loss of that epoch's average, not of the raw weights
    for epoch, (kernel, bias) in enumerate(expected_after_epoch):
        want = float(np.mean((x @ kernel + bias - y) ** 2))
        assert history.history["val_loss"][epoch] == pytest.approx(want, rel=1e-4)
    for got, want in zip(net.get_weights(), expected_after_epoch[-1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # training went on from the raw weights, not from the average: epoch 2's first SGD step (batch x[:16], no
    # shuffling) starts from epoch 1's last raw weights
    def sgd_step(kernel, bias):
        residual = x[:16] @ kernel + bias - y[:16]
        return kernel - 0.1 * 2 * x[:16].T @ residual / 16, bias - 0.1 * 2 * residual.mean(0)

    want_kernel, _ = sgd_step(*recorder.steps[steps_per_epoch - 1])
    np.testing.assert_allclose(recorder.steps[steps_per_epoch][0], want_kernel, rtol=1e-4, atol=1e-5)
    assert not np.allclose(sgd_step(*expected_after_epoch[0])[0], want_kernel, atol=1e-3)
    # a second fit runs: the callback's tf.functions are traced anew for it (no assertion beyond not failing)
    net.fit(x, y, batch_size=16, epochs=1, validation_data=(x, y), callbacks=[average], verbose=0)


def test_decay_must_be_a_fraction():
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(1.0)
