"""What every family's ``run_fn`` does the same way: its settings, its learning rate and its starting model."""
from __future__ import annotations

from typing import Any

import zoo  # sets TF_USE_LEGACY_KERAS before TensorFlow loads
from tfx_pipeline.families import FamilySpec
from zoo.pretrained import WeightsError


def settings(spec: FamilySpec, custom_config: dict[str, Any] | None) -> dict[str, Any]:
    """The family's ``run_fn`` defaults overridden by the Trainer's ``custom_config``; seeds TensorFlow with
    ``seed`` (default 0), so a re-run trains alike."""
    import tensorflow as tf

    config = {**spec.custom_config, **(custom_config or {})}
    tf.keras.utils.set_random_seed(int(config.get("seed", 0)))
    return config


def learning_rate(config: dict[str, Any]) -> float:
    """``warm_start_learning_rate`` when warm starting (a fine-tune at the cold rate can undo the shipped weights,
    0015), else ``learning_rate``."""
    if config.get("warm_start"):
        return float(config.get("warm_start_learning_rate", config["learning_rate"]))
    return float(config["learning_rate"])


def starting_model(spec: FamilySpec, config: dict[str, Any], **untrained: Any) -> zoo.ZooModel:
    """``zoo.load`` from the ``warm_start`` setting ("pretrained", a weights file or a folder), else
    ``zoo.create_model`` with ``untrained`` settings; the model is ``model_name`` (default the family's)."""
    name, warm_start = config.get("model_name", spec.model_name), config.get("warm_start")
    if not warm_start:
        return zoo.create_model(name, **untrained)
    try:
        return zoo.load(name, weights=warm_start)
    except WeightsError as exc:
        raise WeightsError(f"Trainer: cannot warm-start {name!r} from {warm_start!r}: {exc}") from exc
