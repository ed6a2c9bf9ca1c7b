"""TFMA metrics of the retrieval family: recall at 1 and mean reciprocal rank over all of a slice's candidates.

Per example the model answers ``embeddings`` [2, D]: the audio excerpt's and the sheet snippet's L2-normalised
embeddings (``tfx_pipeline.retrieval_module``'s ``serving_examples``). The combiner keeps every pair and ranks at
the end, both ways (each excerpt against every snippet of the slice, and each snippet against every excerpt), with
:func:`zoo.metrics.retrieval_ranks`, as training and ``make bench-retrieval`` do; the figure is the mean of the two
directions. The candidate count is the slice's example count (MSMD's protocol uses 2,000).
"""
from __future__ import annotations

import numpy as np

from tfx_pipeline.metrics.base import Combiner, combiner_metric
from zoo.metrics import retrieval_ranks, retrieval_summary

RETRIEVAL_MRR = "retrieval_mrr"
RECALL_AT_1 = "recall_at_1"

Pairs = list[np.ndarray]  # [2, D] per example: audio, sheet


class _RankCombiner(Combiner[Pairs]):
    figure = "MRR"

    def create_accumulator(self) -> Pairs:
        return []

    def add(self, accumulator: Pairs, label: np.ndarray, prediction: np.ndarray) -> None:
        accumulator.append(np.asarray(prediction, np.float32).reshape(2, -1))

    def merge(self, into: Pairs, other: Pairs) -> None:
        into.extend(other)

    def value(self, accumulator: Pairs) -> float:
        if not accumulator:
            return float("nan")
        pairs = np.stack(accumulator)
        audio, sheet = pairs[:, 0], pairs[:, 1]
        both = [retrieval_summary(retrieval_ranks(audio, sheet)), retrieval_summary(retrieval_ranks(sheet, audio))]
        return float(np.mean([s[self.figure] for s in both]))


class _RecallCombiner(_RankCombiner):
    figure = "R@1"


RetrievalMRR = combiner_metric(
    "RetrievalMRR", _RankCombiner, RETRIEVAL_MRR,
    "Mean reciprocal rank of each item's partner among the slice's candidates, both directions averaged.")
RecallAt1 = combiner_metric(
    "RecallAt1", _RecallCombiner, RECALL_AT_1,
    "Share of items whose partner ranks first among the slice's candidates, both directions averaged.")
