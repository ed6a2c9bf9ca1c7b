"""The two signatures every family's pushed SavedModel carries besides the zoo's own ``serving_default``.

- ``serving_examples(examples: string[None])``: serialized tf.Examples through the Transform graph, then the
  model: what the Evaluator (TFMA) scores, so it scores the very outputs clients get.
- ``transform_features(examples: string[None])``: the transformed features, which give TFMA the label.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from tfx_pipeline.families import EXAMPLES_SIGNATURE, TRANSFORM_SIGNATURE

Features = dict[str, Any]


def pipeline_signatures(module: tf.Module, tft_output: tft.TFTransformOutput, raw_input_keys: Sequence[str],
                        serve: Callable[[Features], dict[str, tf.Tensor]],
                        for_evaluation: Callable[[Features], Features] = dict) -> dict[str, Any]:
    """``serve(transformed features) → outputs`` and ``for_evaluation(transformed features) → features`` (e.g.
    dense labels: a signature returns tensors only) as the two signatures, their Transform layers tracked on
    ``module`` (the object saved). ``serving_examples`` parses only ``raw_input_keys``, as a client sends them."""
    # Two Transform layers: one called on a subset of the raw features (serving), one on all of them (TFMA labels);
    # sharing one layer between the two calls breaks (tensorflow/tfx#2920).
    module.tft_layer_serving = tft_output.transform_features_layer()
    module.tft_layer_eval = tft_output.transform_features_layer()
    raw_spec = tft_output.raw_feature_spec()
    input_spec = {key: raw_spec[key] for key in raw_input_keys}
    examples = tf.TensorSpec([None], tf.string, name="examples")

    @tf.function(input_signature=[examples])
    def serving_examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return serve(module.tft_layer_serving(tf.io.parse_example(serialized, input_spec)))

    @tf.function(input_signature=[examples])
    def transform_features(serialized: tf.Tensor) -> Features:
        return for_evaluation(module.tft_layer_eval(tf.io.parse_example(serialized, raw_spec)))

    return {EXAMPLES_SIGNATURE: serving_examples.get_concrete_function(),
            TRANSFORM_SIGNATURE: transform_features.get_concrete_function()}
