"""AutoGraph leaves Keras 2 (``tf_keras``) unconverted, as TensorFlow leaves ``keras`` and itself.

TensorFlow's conversion rules name ``keras`` but not ``tf_keras``, so with ``TF_USE_LEGACY_KERAS=1`` every Keras
layer's ``call`` (batch normalization, convolution, the engine itself) was parsed and rewritten each time a model
was built or traced: about half of loading omr-resnet-bisru, and a large share of the test suite's time. Keras is
written to run without conversion, as it does under the ``keras`` name.
"""
from __future__ import annotations

from tensorflow.python.autograph.core import config  # the rules have no public setter


def leave_keras_unconverted() -> None:
    """Put ``tf_keras`` among the packages AutoGraph does not convert (once per process)."""
    rule = config.DoNotConvert("tf_keras")
    if not any(isinstance(r, config.DoNotConvert) and r._prefix == rule._prefix for r in config.CONVERSION_RULES):
        config.CONVERSION_RULES = (rule, *config.CONVERSION_RULES)
