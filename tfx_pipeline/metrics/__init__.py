"""The pipeline's custom TFMA metrics, one module per family's figures (all registered on import):
``MetricConfig(class_name=..., module="tfx_pipeline.metrics")``."""
from tfx_pipeline.metrics.error_rates import SequenceErrorRate, SymbolErrorRate, tokens_of
from tfx_pipeline.metrics.likelihood import NegativeLogLikelihoodPerEvent
from tfx_pipeline.metrics.retrieval import RecallAt1, RetrievalMRR

__all__ = ["NegativeLogLikelihoodPerEvent", "RecallAt1", "RetrievalMRR", "SequenceErrorRate", "SymbolErrorRate",
           "tokens_of"]
