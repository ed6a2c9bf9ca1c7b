"""TFMA metrics of the score-recognition family: symbol and sequence error rate, as the zoo computes them.

TFMA has no edit-distance metric; these count errors with :class:`zoo.metrics.ErrorRates`, the one definition
that training, the benchmarks and ``scorezoo evaluate`` use.

Each example's label and prediction are token strings padded with ``""`` (``tfx_pipeline.omr_module``'s
``transform_features`` and ``serving_examples`` signatures); the padding is dropped before counting.
``EvalConfig``: ``MetricConfig(class_name="SymbolErrorRate", module="tfx_pipeline.metrics")``.
"""
from __future__ import annotations

import numpy as np

from tfx_pipeline.metrics.base import Combiner, combiner_metric
from zoo.metrics import ErrorRates

SYMBOL_ERROR_RATE = "symbol_error_rate"
SEQUENCE_ERROR_RATE = "sequence_error_rate"


def tokens_of(padded: np.ndarray) -> list[str]:
    """One example's padded token array (bytes or str, any shape) → its tokens, padding dropped."""
    values = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(padded).reshape(-1)]
    return [v for v in values if v]


class _ErrorRateCombiner(Combiner[ErrorRates]):
    """Adds each example's edit distance to an :class:`ErrorRates`; reads one of its rates at the end."""

    rate = SYMBOL_ERROR_RATE

    def create_accumulator(self) -> ErrorRates:
        return ErrorRates()

    def add(self, accumulator: ErrorRates, label: np.ndarray, prediction: np.ndarray) -> None:
        accumulator.add(tokens_of(label), tokens_of(prediction))

    def merge(self, into: ErrorRates, other: ErrorRates) -> None:
        into.merge(other)

    def value(self, accumulator: ErrorRates) -> float:
        return accumulator.ser if self.rate == SYMBOL_ERROR_RATE else accumulator.sequence_error_rate


class _SequenceErrorRateCombiner(_ErrorRateCombiner):
    rate = SEQUENCE_ERROR_RATE


SymbolErrorRate = combiner_metric(
    "SymbolErrorRate", _ErrorRateCombiner, SYMBOL_ERROR_RATE,
    "Edit distance between recognized and reference tokens over the reference token count (lower is better).")
SequenceErrorRate = combiner_metric(
    "SequenceErrorRate", _SequenceErrorRateCombiner, SEQUENCE_ERROR_RATE,
    "The share of staves read with at least one error (lower is better).")
