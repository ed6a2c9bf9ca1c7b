"""TFMA metric of the generation family: negative log-likelihood per event over a slice's clips.

Per example the model answers ``likelihood`` [2]: the clip's teacher-forced negative log-likelihood summed over its
events (nats) and its event count (``tfx_pipeline.generation_module``'s ``serving_examples``). The figure is the sum
of the first over the sum of the second, as :func:`zoo.training.generation.nll_per_event` computes it: long clips
weigh by their events, not one vote per clip.
"""
from __future__ import annotations

import numpy as np

from tfx_pipeline.metrics.base import Combiner, combiner_metric

NLL_PER_EVENT = "nll_per_event"


class _NllCombiner(Combiner[np.ndarray]):
    def create_accumulator(self) -> np.ndarray:
        return np.zeros(2, np.float64)

    def add(self, accumulator: np.ndarray, label: np.ndarray, prediction: np.ndarray) -> None:
        accumulator += np.asarray(prediction, np.float64).reshape(2)

    def merge(self, into: np.ndarray, other: np.ndarray) -> None:
        into += other

    def value(self, accumulator: np.ndarray) -> float:
        return float(accumulator[0] / accumulator[1]) if accumulator[1] else float("nan")


NegativeLogLikelihoodPerEvent = combiner_metric(
    "NegativeLogLikelihoodPerEvent", _NllCombiner, NLL_PER_EVENT,
    "Teacher-forced negative log-likelihood of the slice's clips, nats per event (lower is better).")
