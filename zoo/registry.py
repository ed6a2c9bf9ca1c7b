"""Model names → builders and pretrained manifests: the only place that knows which models exist.

Modelled on timm (``register_model`` / ``create_model`` / ``list_models``) and on
keras.applications (hash-checked pretrained weights).
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.pretrained import Manifest, WeightsError, find_manifest

_REGISTRY: dict[str, ModelSpec] = {}
_FAMILIES_PACKAGE = "zoo.models"
_families_loaded = False


class UnknownModelError(KeyError):
    """Raised for a model name nobody registered; the message lists what exists."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class ZooModel:
    """A Keras model plus what it needs to be used on raw inputs.

    Families subclass this and implement ``predict`` on raw inputs (paths or bytes);
    ``preprocess`` is the family's one preprocessing function, shared with training,
    TFX Transform and the serving signature.
    """

    def __init__(
        self,
        name: str,
        keras_model: Any,
        config: dict[str, Any],
        labels: list[str] | None = None,
        manifest: Manifest | None = None,
    ) -> None:
        self.name = name
        self.keras_model = keras_model
        self.config = dict(config)
        self.labels = labels
        self.manifest = manifest

    def preprocess(self, raw: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define preprocessing")

    def predict(self, inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define predict on raw inputs")

    def load_weights(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"Weights file not found: {path}")
        try:
            self.keras_model.load_weights(str(path))
        except Exception as exc:  # h5py/keras raise many types for a bad file
            raise WeightsError(f"Cannot load weights {path} into {self.name!r}: {exc}") from exc

    def trackable(self) -> Any:
        """What a SavedModel of the serving signatures saves: every variable they read."""
        return self.keras_model

    def load_manifest_extras(self, manifest: Manifest) -> None:
        """Load what a family's manifests may add beside the weights (none by default)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} params={self.keras_model.count_params():,}>"


@dataclass(frozen=True)
class ModelSpec:
    """One registered name: how to build it and what it takes."""

    name: str
    builder: Callable[..., ZooModel]
    task: str
    input_spec: dict[str, Any]
    description: str = ""
    default_config: dict[str, Any] = field(default_factory=dict)

    @property
    def pretrained(self) -> Manifest | None:
        return find_manifest(self.name)

    def summary(self) -> dict[str, Any]:
        manifest = self.pretrained
        return {
            "name": self.name,
            "task": self.task,
            "pretrained": manifest is not None,
            "input_spec": self.input_spec,
            "description": self.description,
            "metrics": manifest.metrics if manifest else {},
        }


def register_model(
    name: str | None = None,
    *,
    task: str,
    input_spec: dict[str, Any],
    description: str = "",
    default_config: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Callable[[Callable[..., ZooModel]], Callable[..., ZooModel]]:
    """Decorator registering ``builder(**config) -> ZooModel`` under ``name`` (default: function name)."""

    def decorate(builder: Callable[..., ZooModel]) -> Callable[..., ZooModel]:
        key = name or builder.__name__.replace("_", "-")
        if key in _REGISTRY and not overwrite and _REGISTRY[key].builder is not builder:
            raise ValueError(f"Model {key!r} is already registered by {_REGISTRY[key].builder.__module__}")
        _REGISTRY[key] = ModelSpec(
            name=key,
            builder=builder,
            task=task,
            input_spec=dict(input_spec),
            description=description or (builder.__doc__ or "").strip().split("\n")[0],
            default_config=dict(default_config or {}),
        )
        return builder

    return decorate


def unregister_model(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load_families() -> None:
    """Import the model family modules so their decorators run (once)."""
    global _families_loaded
    if not _families_loaded:
        _families_loaded = True
        importlib.import_module(_FAMILIES_PACKAGE)


def list_models(pattern: str | None = None, pretrained: bool = False) -> list[str]:
    """Registered names, sorted; ``pattern`` is a shell wildcard (``'omr*'``)."""
    _load_families()
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    if pretrained:
        names = [n for n in names if _REGISTRY[n].pretrained is not None]
    return names


def get_spec(name: str) -> ModelSpec:
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = sorted(_REGISTRY)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(known) if known else "(none)"
        raise UnknownModelError(f"Unknown model {name!r}.{hint} Registered models: {listing}") from None


def create_model(name: str, **overrides: Any) -> ZooModel:
    """The architecture of ``name``, untrained; ``overrides`` change its config."""
    spec = get_spec(name)
    config = {**spec.default_config, **overrides}
    return spec.builder(**config)


def load(name: str, weights: str | Path | None = "pretrained", **overrides: Any) -> ZooModel:
    """A ready model: ``weights`` is "pretrained" (shipped, hash-checked), a weights path,
    a folder holding a ``manifest.json``, or None (random initialisation)."""
    spec = get_spec(name)
    if weights is None:
        return create_model(name, **overrides)
    if isinstance(weights, str) and weights == "pretrained":
        manifest = spec.pretrained
        if manifest is None:
            have = ", ".join(list_models(pretrained=True)) or "(none)"
            raise WeightsError(f"No pretrained weights ship for {name!r}. Models with weights: {have}")
        return _from_manifest(spec, manifest, overrides)
    path = Path(weights)
    if path.is_dir():
        return _from_manifest(spec, Manifest.read(path), overrides)
    model = create_model(name, **overrides)
    model.load_weights(path)
    return model


def _from_manifest(spec: ModelSpec, manifest: Manifest, overrides: dict[str, Any]) -> ZooModel:
    weights_path = manifest.verified_weights_path()
    config = {**spec.default_config, **manifest.config, **overrides}
    vocabulary = manifest.vocabulary()
    if vocabulary is not None:  # token models size their output layer from the shipped vocabulary
        config["vocabulary"] = vocabulary
    model = spec.builder(**config)
    model.manifest = manifest
    if manifest.labels is not None:
        model.labels = list(manifest.labels)
    model.load_weights(weights_path)
    model.load_manifest_extras(manifest)
    return model
