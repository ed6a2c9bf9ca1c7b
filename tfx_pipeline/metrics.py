"""TFMA metrics of the score-recognition family: symbol and sequence error rate, as the zoo computes them.

TFMA has no edit-distance metric, and a Keras metric would not do: TFMA stacks a Keras metric's per-example labels
into one array, which token sequences of different lengths are not. These are TFMA's own kind of metric (a Beam
``CombineFn`` over per-example label and prediction, as TFMA's ``ExactMatch``), and they count errors with
:class:`zoo.metrics.ErrorRates`, the one definition that training, the benchmarks and ``scorezoo evaluate`` use.

Each example's label and prediction are token strings padded with ``""`` (``tfx_pipeline.omr_module``'s
``transform_features`` and ``serving_examples`` signatures); the padding is dropped before counting.
``EvalConfig``: ``MetricConfig(class_name="SymbolErrorRate", module="tfx_pipeline.metrics")``.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from zoo.metrics import ErrorRates

SYMBOL_ERROR_RATE = "symbol_error_rate"
SEQUENCE_ERROR_RATE = "sequence_error_rate"


def tokens_of(padded: np.ndarray) -> list[str]:
    """One example's padded token array (bytes or str, any shape) → its tokens, padding dropped."""
    values = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(padded).reshape(-1)]
    return [v for v in values if v]


class _ErrorRateCombiner(beam.CombineFn):
    """Adds each example's edit distance to an :class:`ErrorRates` and reads one of its rates at the end."""

    def __init__(self, key: metric_types.MetricKey, eval_config: Any, rate: str):
        self._key = key
        self._eval_config = eval_config
        self._rate = rate

    def create_accumulator(self) -> ErrorRates:
        return ErrorRates()

    def add_input(self, accumulator: ErrorRates, element: metric_types.StandardMetricInputs) -> ErrorRates:
        for label, prediction, _ in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name, flatten=False, squeeze=False):
            accumulator.add(tokens_of(label), tokens_of(prediction))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[ErrorRates]) -> ErrorRates:
        merged = ErrorRates()
        for accumulator in accumulators:
            merged.merge(accumulator)
        return merged

    def extract_output(self, accumulator: ErrorRates) -> dict[metric_types.MetricKey, float]:
        rate = accumulator.ser if self._rate == SYMBOL_ERROR_RATE else accumulator.sequence_error_rate
        return {self._key: float(rate)}


def _computations(rate: str):
    def computations(name: str, eval_config: Any = None, model_name: str = "", output_name: str = "",
                     sub_key: Any = None, aggregation_type: Any = None, class_weights: Any = None,
                     example_weighted: bool = False) -> metric_types.MetricComputations:
        key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name, sub_key=sub_key,
                                     example_weighted=example_weighted)
        return [metric_types.MetricComputation(keys=[key], preprocessors=None,
                                               combiner=_ErrorRateCombiner(key, eval_config, rate))]

    return computations


class SymbolErrorRate(metric_types.Metric):
    """Edit distance between recognized and reference tokens over the reference token count (lower is better)."""

    def __init__(self, name: str = SYMBOL_ERROR_RATE):
        super().__init__(metric_util.merge_per_key_computations(_computations(SYMBOL_ERROR_RATE)), name=name)


class SequenceErrorRate(metric_types.Metric):
    """The share of staves read with at least one error (lower is better)."""

    def __init__(self, name: str = SEQUENCE_ERROR_RATE):
        super().__init__(metric_util.merge_per_key_computations(_computations(SEQUENCE_ERROR_RATE)), name=name)


metric_types.register_metric(SymbolErrorRate)
metric_types.register_metric(SequenceErrorRate)
