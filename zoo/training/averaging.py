"""An exponential moving average of a Keras model's weights (Polyak averaging), for validation and checkpoints.

Small audio networks trained with Adam on a few thousand clips jump between minima from one epoch to the next
(genre-cnn's validation accuracy moved by 5-10 points per epoch; docs/decisions/0014-genre-cnn.md), which makes
both early stopping and the choice of a checkpoint a lottery. The average of the last few hundred steps' weights
sits in the middle of those jumps. Training itself keeps updating the raw weights; the averaged ones are swapped in
for each validation pass, so ``val_*`` metrics, ``ModelCheckpoint`` and ``EarlyStopping`` all see (and save) the
average.
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf


class WeightAverage(tf.keras.callbacks.Callback):
    """Keep ``avg = d·avg + (1−d)·w`` after every training step; validate and checkpoint with ``avg``.

    ``d`` ramps up as ``min(decay, (1+t)/(10+t))`` so the first steps are not averaged with the random
    initialization. All float weights are averaged, the BatchNorm moving statistics included (as timm's ModelEma).
    After ``fit`` the model holds the averaged weights of the last epoch.
    """

    def __init__(self, decay: float = 0.995) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self._average: list[tf.Variable] = []
        self._averaged_in_model = False

    def _weights(self) -> list[tf.Variable]:
        return [w for w in self.model.weights if w.dtype.is_floating]

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._average = [tf.Variable(w, trainable=False) for w in self._weights()]
        self._step = tf.Variable(0.0, trainable=False)
        self._averaged_in_model = False
        # traced per fit: a tf.function traced once would keep the variables of the first fit
        self._update, self._swap = tf.function(self._update_step), tf.function(self._swap_weights)

    def _update_step(self) -> None:
        self._step.assign_add(1.0)
        d = tf.minimum(self.decay, (1.0 + self._step) / (10.0 + self._step))
        for avg, w in zip(self._average, self._weights()):
            avg.assign(d * avg + (1.0 - d) * tf.cast(w, avg.dtype))

    def _swap_weights(self) -> None:
        for avg, w in zip(self._average, self._weights()):
            raw = tf.identity(w)
            w.assign(avg)
            avg.assign(raw)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._update()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._average and not self._averaged_in_model:  # validation inside fit: use the average
            self._swap()
            self._averaged_in_model = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._averaged_in_model:  # back to the raw weights to go on training
            self._swap()
            self._averaged_in_model = False

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._average and not self._averaged_in_model:
            self._swap()
            self._averaged_in_model = True
