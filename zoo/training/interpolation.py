"""Weights on the straight line between a model and its continued training (WiSE-FT, Wortsman et al., CVPR 2022).

A stage trained on new kinds of input can read them far better and the old ones a little worse (omr-resnet-bisru's
sixth stage on other keys, BENCHMARKS.md). A run warm-started from another stays in its basin of the loss, so a
point between the two weight sets often keeps most of both gains; the share is chosen on validation data, never on
a test split. Only one lineage makes sense: both runs must have the same model config and vocabulary.
"""
from __future__ import annotations

import json
from pathlib import Path

import zoo
from zoo import paths
from zoo.pretrained import MANIFEST_NAME, Manifest, find_manifest, write_manifest
from zoo.training.omr import earlier_stages


def run_manifest(model_name: str, weights: str) -> Manifest:
    """The manifest of a run folder or of the shipped weights: interpolating or deepening keeps their records."""
    if weights == "pretrained":
        manifest = find_manifest(model_name)
        if manifest is None:
            raise FileNotFoundError(f"no pretrained weights ship for {model_name!r}")
        return manifest
    if not (Path(weights) / MANIFEST_NAME).is_file():
        raise FileNotFoundError(f"{weights} is not a run folder with a {MANIFEST_NAME}")
    return Manifest.read(Path(weights))


def interpolate(model_name: str, start: str, end: str, alpha: float, out_dir: Path) -> Path:
    """Write ``(1 − alpha)·start + alpha·end`` as a run folder (weights, vocabulary, manifest); returns it.

    Every float weight is interpolated, BatchNorm moving statistics included. The manifest keeps
    ``end``'s description of the data and model, both runs' training stages (each once) and the
    interpolation; its metrics are left empty because both runs' figures were measured on other weights.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if (out_dir / MANIFEST_NAME).exists():
        raise FileExistsError(f"{out_dir} already holds a run; choose another --out (nothing was written)")
    first, last = run_manifest(model_name, start), run_manifest(model_name, end)
    for what, same in [("model configs", lambda: first.config == last.config),
                       ("vocabularies", lambda: first.vocabulary() == last.vocabulary())]:
        if not same():
            raise ValueError(f"{start} and {end} have different {what}; only one lineage can be interpolated")
    a, b = zoo.load(model_name, weights=start), zoo.load(model_name, weights=end)
    a.keras_model.set_weights([(1.0 - alpha) * wa + alpha * wb
                               for wa, wb in zip(a.keras_model.get_weights(), b.keras_model.get_weights())])
    out_dir.mkdir(parents=True, exist_ok=True)
    a.keras_model.save_weights(str(out_dir / last.weights_file))
    if last.vocabulary_file:
        (out_dir / last.vocabulary_file).write_text("\n".join(last.vocabulary()) + "\n", encoding="utf-8")
    stages = earlier_stages(end, model_name)
    seen = {stage.get("run") for stage in stages}
    stages += [stage for stage in earlier_stages(start, model_name) if stage.get("run") not in seen]
    record = {"start": paths.portable(start), "end": paths.portable(end), "alpha": alpha}
    # a stage of its own, so that a run warm-started from this one still tells where its weights came from
    stages.append({"run": paths.portable(out_dir), "train_seconds": 0.0, "images_seen": 0, "interpolation": record})
    training = {"interpolation": record, "stages": stages,
                "total_train_seconds": round(sum(s.get("train_seconds") or 0 for s in stages), 1)}
    fields = {k: v for k, v in json.loads((last.directory / MANIFEST_NAME).read_text(encoding="utf-8")).items()
              if k not in ("name", "weights")}
    write_manifest(out_dir, model_name, last.weights_file, **{**fields, "metrics": {}, "training": training})
    return out_dir
