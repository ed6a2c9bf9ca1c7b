"""One more bidirectional SRU layer on top of a trained score recognizer, started as (nearly) the identity.

Continued training of omr-resnet-bisru on new kinds of staves trades the old ones away (BENCHMARKS.md, session 13):
a sign that the two-layer recurrent part is full. A new layer that starts by passing its input through (Net2Net's
function-preserving growth, Chen et al., ICLR 2016) gives the network room without losing what it reads today.
An SRU makes that exact in form: its highway output is h = r ⊙ tanh(c) + (1 − r) ⊙ W_h x, so with W_h choosing
each direction's half of the input and the reset gate r held near 0 (W_r = 0, v_r = 0, b_r very negative), the
layer returns its input, and the gate opens as training finds something better to pass on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

import zoo
from zoo import paths
from zoo.layers import BidirectionalSRU
from zoo.training.derived_runs import copy_layer_weights, refuse_existing_run, run_manifest, write_derived_run
from zoo.training.omr import earlier_stages


def open_as_identity(layer: BidirectionalSRU, reset_bias: float) -> None:
    """Set a built BidirectionalSRU whose input is [forward half, backward half] of ``2·units`` features to return
    nearly that input: h = x + σ(reset_bias)·(tanh(c) − x) per direction."""
    units = layer.units
    for half, sru in enumerate((layer.forward_layer, layer.backward_layer)):
        if sru.kernel.shape != (2 * units, 4 * units):
            raise ValueError(f"{layer.name} must read 2·units = {2 * units} features and project its skip")
        kernel = sru.kernel.numpy()  # [W | W_f | W_r | W_h]
        kernel[:, 2 * units:] = 0.0
        kernel[half * units:(half + 1) * units, 3 * units:] = np.eye(units, dtype=kernel.dtype)
        sru.kernel.assign(kernel)
        recurrent, bias = sru.recurrent_weights.numpy(), sru.bias.numpy()  # [v_f | v_r], [b_f | b_r]
        recurrent[units:], bias[units:] = 0.0, reset_bias
        sru.recurrent_weights.assign(recurrent)
        sru.bias.assign(bias)


def deepen(model_name: str, start: str, out_dir: Path, reset_bias: float = -4.0, seed: int = 0) -> Path:
    """Write ``start`` ('pretrained' or a run folder) with one more BiSRU layer on top, as a run folder.

    Every layer of ``start`` keeps its weights (matched by name); the new layer's candidate and forget-gate
    weights are drawn as for a new model (``seed``), the rest set by :func:`open_as_identity`. The manifest keeps
    ``start``'s description, the new ``rnn_layers``, the training stages and this step as a stage of its own.
    """
    refuse_existing_run(out_dir)
    manifest = run_manifest(model_name, start)
    if manifest.config.get("rnn") != "sru":
        raise ValueError(f"{start} has rnn={manifest.config.get('rnn')!r}; only BiSRU models are deepened")
    old = zoo.load(model_name, weights=start)
    layers = int(old.config["rnn_layers"])
    tf.keras.utils.set_random_seed(seed)
    new = zoo.create_model(model_name, vocabulary=old.vocabulary, **{**old.config, "rnn_layers": layers + 1})
    copy_layer_weights(old.keras_model, new.keras_model)
    open_as_identity(new.keras_model.get_layer(f"bisru{layers}"), reset_bias)
    record = {"start": paths.portable(start), "rnn_layers": layers + 1, "reset_bias": reset_bias, "seed": seed}
    return write_derived_run(model_name, new.keras_model, out_dir, manifest, earlier_stages(start, model_name),
                             "deepening", record, config=new.config)
