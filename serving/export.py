"""Export a zoo model as a TF Serving SavedModel: ``<out_dir>/<name>/<version>/`` (the layout Pusher writes).

The version folder appears atomically: the SavedModel is written to a hidden temporary folder beside it and renamed
into place, so a server polling ``<out_dir>/<name>`` never sees a half-written version, and an existing version is
never overwritten.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

import zoo


class ExportError(RuntimeError):
    """The export cannot be done (version exists, bad weights, ...); the message says what to do."""


def existing_versions(model_dir: str | Path) -> list[int]:
    """Numeric version folders under ``model_dir`` (what TF Serving considers), sorted."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir: str | Path) -> int:
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def load_for_export(name: str, weights: str | Path | None = "pretrained") -> zoo.ZooModel:
    """``weights``: "pretrained" (shipped), a weights file or manifest folder, or None / "none" (untrained)."""
    if isinstance(weights, str) and weights.lower() == "none":
        weights = None
    return zoo.load(name, weights=weights)


def export(name: str, out_dir: str | Path, version: int | None = None, weights: str | Path | None = "pretrained",
           model: zoo.ZooModel | None = None) -> Path:
    """Write ``out_dir/name/version/`` (a SavedModel with the model's serving signatures) and return its path.

    ``version`` defaults to one more than the largest existing numeric version (1 for the first). ``model`` skips
    loading (it must be the model called ``name``).
    """
    model_dir = Path(out_dir) / name
    if version is not None and (version < 0 or (model_dir / str(version)).exists()):
        raise ExportError(f"Version {version} of {name!r} already exists in {model_dir} (or is negative); "
                          "versions are never overwritten: pick another --version or leave it out.")
    model = model if model is not None else load_for_export(name, weights)
    signatures = model.serving_signatures()
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".export-{name}-", dir=model_dir))  # hidden, non-numeric: servers skip it
    try:
        tf.saved_model.save(model.trackable(), str(tmp / "model"), signatures=signatures)
        while True:
            v = version if version is not None else next_version(model_dir)
            target = model_dir / str(v)
            try:
                os.mkdir(target)  # claim the number atomically; another exporter may race us for it
            except FileExistsError:
                if version is not None:
                    raise ExportError(f"Version {version} of {name!r} already exists in {model_dir}.") from None
                continue
            os.replace(tmp / "model", target)  # the empty claimed folder is replaced atomically
            return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
