"""Weights on the straight line between a model and its continued training (WiSE-FT, Wortsman et al., CVPR 2022).

A stage trained on new kinds of input can read them far better and the old ones a little worse (omr-resnet-bisru's
stage on other keys, docs/decisions/0002-omr-training-recipe.md). A run warm-started from another stays in its
basin of the loss, so a point between the two weight sets often keeps most of both gains; the share is chosen on
validation data, never on a test split. Only one lineage makes sense: both runs must have the same model config
and vocabulary.
"""
from __future__ import annotations

from pathlib import Path

import zoo
from zoo import paths
from zoo.training.derived_runs import refuse_existing_run, run_manifest, write_derived_run
from zoo.training.omr import earlier_stages


def interpolate(model_name: str, start: str, end: str, alpha: float, out_dir: Path) -> Path:
    """Write ``(1 − alpha)·start + alpha·end`` as a run folder (weights, vocabulary, manifest); returns it.

    Every float weight is interpolated, BatchNorm moving statistics included. The manifest keeps
    ``end``'s description of the data and model, both runs' training stages (each once) and the
    interpolation; its metrics are left empty because both runs' figures were measured on other weights.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    refuse_existing_run(out_dir)
    first, last = run_manifest(model_name, start), run_manifest(model_name, end)
    for what, same in [("model configs", lambda: first.config == last.config),
                       ("vocabularies", lambda: last.vocabulary() == first.vocabulary())]:
        if not same():
            raise ValueError(f"{start} and {end} have different {what}; only one lineage can be interpolated")
    a, b = zoo.load(model_name, weights=start), zoo.load(model_name, weights=end)
    a.keras_model.set_weights([(1.0 - alpha) * wa + alpha * wb
                               for wa, wb in zip(a.keras_model.get_weights(), b.keras_model.get_weights())])
    stages = earlier_stages(end, model_name)
    seen = {stage.get("run") for stage in stages}
    stages += [stage for stage in earlier_stages(start, model_name) if stage.get("run") not in seen]
    record = {"start": paths.portable(start), "end": paths.portable(end), "alpha": alpha}
    return write_derived_run(model_name, a.keras_model, out_dir, last, stages, "interpolation", record)
