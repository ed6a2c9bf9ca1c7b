"""Run folders made from other runs' weights without training them again (interpolation, a sign head added).

Such a folder must still tell where its weights came from, so that a run warm-started from it does too: its
manifest keeps its source's description of the data and model, the stages that led to it and the step itself as a
stage of its own, and leaves metrics empty, because the source's figures were measured on other weights.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tensorflow as tf

from zoo import paths
from zoo.pretrained import MANIFEST_NAME, Manifest, find_manifest, write_manifest


def run_manifest(model_name: str, weights: str) -> Manifest:
    """The manifest of a run folder or of the shipped weights: a derived run keeps its records."""
    if weights == "pretrained":
        manifest = find_manifest(model_name)
        if manifest is None:
            raise FileNotFoundError(f"no pretrained weights ship for {model_name!r}")
        return manifest
    if not (Path(weights) / MANIFEST_NAME).is_file():
        raise FileNotFoundError(f"{weights} is not a run folder with a {MANIFEST_NAME}")
    return Manifest.read(Path(weights))


def refuse_existing_run(out_dir: Path) -> None:
    """Never write over a run, the inputs of this one included; called before any work."""
    if (out_dir / MANIFEST_NAME).exists():
        raise FileExistsError(f"{out_dir} already holds a run; choose another --out (nothing was written)")


def write_derived_run(model_name: str, net: tf.keras.Model, out_dir: Path, source: Manifest,
                      earlier: list[dict[str, Any]], step: str, record: dict[str, Any],
                      **changes: Any) -> Path:
    """Write ``net``'s weights, ``source``'s vocabulary and a manifest: ``source``'s fields with ``changes``
    (e.g. a new ``config``), the ``earlier`` stages and then ``{step: record}`` as a stage of its own (its
    ``train_seconds``, if the step trained anything, count in the total)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    net.save_weights(str(out_dir / source.weights_file))
    if source.vocabulary_file:
        (out_dir / source.vocabulary_file).write_text("\n".join(source.vocabulary()) + "\n", encoding="utf-8")
    stages = earlier + [{"run": paths.portable(out_dir), "train_seconds": record.get("train_seconds", 0.0),
                         "images_seen": 0, step: record}]
    training = {step: record, "stages": stages,
                "total_train_seconds": round(sum(s.get("train_seconds") or 0 for s in stages), 1)}
    fields = {k: v for k, v in json.loads((source.directory / MANIFEST_NAME).read_text(encoding="utf-8")).items()
              if k not in ("name", "weights")}
    write_manifest(out_dir, model_name, source.weights_file,
                   **{**fields, **changes, "metrics": {}, "training": training})
    return out_dir
