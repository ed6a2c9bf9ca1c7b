"""What every custom TFMA metric of the pipeline shares: a Beam ``CombineFn`` over each example's label and
prediction, and the ``Metric`` class TFMA instantiates from ``MetricConfig(class_name=..., module=...)``.

TFMA's own metrics stack per-example labels into one array, which token sequences of different lengths are not,
and compute per example, which a retrieval figure over all candidates is not: these metrics accumulate what they
need per example (as TFMA's ``ExactMatch`` does) and compute the figure once, in ``extract_output``.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

A = TypeVar("A")


class Combiner(beam.CombineFn, Generic[A]):
    """Subclasses say how one example's ``(label, prediction)`` arrays enter an accumulator (:meth:`add`), how two
    accumulators merge, and what figure an accumulator gives (:meth:`value`)."""

    def __init__(self, key: metric_types.MetricKey, eval_config: Any):
        self._key = key
        self._eval_config = eval_config

    def create_accumulator(self) -> A:
        raise NotImplementedError

    def add(self, accumulator: A, label: np.ndarray, prediction: np.ndarray) -> None:
        raise NotImplementedError

    def merge(self, into: A, other: A) -> None:
        raise NotImplementedError

    def value(self, accumulator: A) -> float:
        raise NotImplementedError

    def add_input(self, accumulator: A, element: metric_types.StandardMetricInputs) -> A:
        for label, prediction, _ in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name, flatten=False, squeeze=False):
            self.add(accumulator, np.asarray(label), np.asarray(prediction))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[A]) -> A:
        merged = self.create_accumulator()
        for accumulator in accumulators:
            self.merge(merged, accumulator)
        return merged

    def extract_output(self, accumulator: A) -> dict[metric_types.MetricKey, float]:
        return {self._key: float(self.value(accumulator))}


def combiner_metric(class_name: str, combiner: type[Combiner], default_name: str, doc: str
                    ) -> type[metric_types.Metric]:
    """A TFMA ``Metric`` class named ``class_name`` computing ``combiner`` per slice, registered with TFMA (so that
    ``MetricConfig(class_name=class_name, module="tfx_pipeline.metrics")`` finds it); its metric key is
    ``default_name``."""

    def computations(name: str, eval_config: Any = None, model_name: str = "", output_name: str = "",
                     sub_key: Any = None, aggregation_type: Any = None, class_weights: Any = None,
                     example_weighted: bool = False) -> metric_types.MetricComputations:
        key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name, sub_key=sub_key,
                                     example_weighted=example_weighted)
        return [metric_types.MetricComputation(keys=[key], preprocessors=None,
                                               combiner=combiner(key, eval_config))]

    def __init__(self: metric_types.Metric, name: str = default_name) -> None:
        metric_types.Metric.__init__(self, metric_util.merge_per_key_computations(computations), name=name)

    cls = type(class_name, (metric_types.Metric,), {"__init__": __init__, "__doc__": doc,
                                                     "__module__": combiner.__module__})
    metric_types.register_metric(cls)
    return cls
