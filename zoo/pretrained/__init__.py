"""Pretrained manifests and hash-checked weights (keras.applications' habit).

Each pretrained model has a folder ``<name>/`` holding ``manifest.json`` and the
weights file it names. Shipped folders live beside this module; a folder of the
same name under ``$SCOREZOO_HOME/pretrained`` takes precedence, so retrained
weights can be dropped in without touching the installed package.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import paths

MANIFEST_NAME = "manifest.json"
REQUIRED_KEYS = ("name", "weights", "input_spec", "preprocessing", "training_data", "metrics")


class WeightsError(RuntimeError):
    """A weights file is missing, unreadable or does not match its manifest."""


@dataclass(frozen=True)
class Manifest:
    """What a pretrained entry promises: weights + everything needed to use them."""

    name: str
    directory: Path
    weights_file: str
    sha256: str
    input_spec: dict[str, Any]
    preprocessing: dict[str, Any]
    training_data: dict[str, Any]
    metrics: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    labels: list[str] | None = None
    vocabulary_file: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def weights_path(self) -> Path:
        return self.directory / self.weights_file

    def vocabulary(self) -> list[str] | None:
        if not self.vocabulary_file:
            return None
        return (self.directory / self.vocabulary_file).read_text(encoding="utf-8").splitlines()

    def verified_weights_path(self) -> Path:
        """The weights path, after checking it exists and matches the manifest's sha256."""
        return self.verified_file(self.weights_file, self.sha256, "weights")

    def verified_file(self, name: str, sha256: str, what: str) -> Path:
        """``name`` in the manifest's folder, after checking it exists and matches ``sha256``."""
        path = self.directory / name
        if not path.is_file():
            raise WeightsError(
                f"Pretrained {what} for {self.name!r} not found: {path}. "
                f"Reinstall scorezoo or put the file named in {self.directory / MANIFEST_NAME} there."
            )
        digest = sha256_file(path)
        if digest != sha256:
            raise WeightsError(
                f"Pretrained {what} for {self.name!r} are corrupt or were replaced: {path} has sha256 "
                f"{digest}, the manifest expects {sha256}. Restore the file, or update "
                f"{self.directory / MANIFEST_NAME} if you retrained it on purpose."
            )
        return path

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise WeightsError(f"Cannot read pretrained manifest {path}: {exc}") from exc
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing or not {"file", "sha256"} <= set(data.get("weights", {})):
            raise WeightsError(f"Pretrained manifest {path} lacks {missing or ['weights.file/sha256']}")
        known = set(REQUIRED_KEYS) | {"config", "labels", "vocabulary_file"}
        return cls(
            name=data["name"],
            directory=directory,
            weights_file=data["weights"]["file"],
            sha256=data["weights"]["sha256"],
            input_spec=data["input_spec"],
            preprocessing=data["preprocessing"],
            training_data=data["training_data"],
            metrics=data["metrics"],
            config=data.get("config", {}),
            labels=data.get("labels"),
            vocabulary_file=data.get("vocabulary_file"),
            extra={k: v for k, v in data.items() if k not in known},
        )


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def find_manifest(name: str) -> Manifest | None:
    """The first manifest for ``name`` in the search order, or None when none ships."""
    for root in paths.pretrained_dirs():
        if (root / name / MANIFEST_NAME).is_file():
            return Manifest.read(root / name)
    return None


def write_manifest(directory: Path, name: str, weights_file: str, **fields: Any) -> Manifest:
    """Record a freshly trained weights file: its hash plus the given fields."""
    directory.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "weights": {"file": weights_file, "sha256": sha256_file(directory / weights_file)}}
    data.update(fields)
    (directory / MANIFEST_NAME).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return Manifest.read(directory)
