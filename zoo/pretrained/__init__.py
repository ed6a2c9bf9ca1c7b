"""Pretrained manifests and hash-checked files (keras.applications' habit).

Each pretrained model has a folder ``<name>/`` holding ``manifest.json`` and every file it names: the weights,
and for some models a vocabulary and a sign head. Every such file is listed with its sha256 and checked before it
is read, and the manifest itself is validated against ``manifest.schema.json`` with a sentence per problem.
Shipped folders live beside this module; a folder of the same name under ``$SCOREZOO_HOME/pretrained`` takes
precedence, so retrained weights can be dropped in without touching the installed package.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import paths

MANIFEST_NAME = "manifest.json"
SCHEMA_PATH = Path(__file__).resolve().parent / "manifest.schema.json"
REQUIRED_KEYS = ("name", "weights", "input_spec", "preprocessing", "training_data", "metrics")
FILE_ROLES = ("weights", "vocabulary", "sign_head", "bank")  # the manifest entries naming a file and its sha256


class WeightsError(RuntimeError):
    """A pretrained file is missing, unreadable or does not match its manifest, or the manifest is invalid."""


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def problems(data: Any) -> list[str]:
    """One sentence per way ``data`` breaks the manifest schema (empty when it is valid)."""
    found = []
    for error in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in error.absolute_path) or "the manifest"
        description = error.schema.get("description") if isinstance(error.schema, dict) else None
        found.append(f"{where}: {description or error.message}")
    return found


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
    vocabulary_entry: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def weights_path(self) -> Path:
        return self.directory / self.weights_file

    @property
    def vocabulary_file(self) -> str | None:
        return self.vocabulary_entry["file"] if self.vocabulary_entry else None

    def files(self) -> dict[str, dict[str, str]]:
        """Every file the model loads, by role: ``{"weights": {"file", "sha256"}, ...}``."""
        entries = {"weights": {"file": self.weights_file, "sha256": self.sha256}}
        if self.vocabulary_entry:
            entries["vocabulary"] = self.vocabulary_entry
        entries.update({k: v for k, v in self.extra.items() if k in FILE_ROLES})
        return {role: {"file": e["file"], "sha256": e["sha256"]} for role, e in entries.items()}

    def vocabulary(self) -> list[str] | None:
        """The vocabulary, after checking its hash: one changed byte would silently change what is read."""
        if not self.vocabulary_entry:
            return None
        path = self.verified_file(self.vocabulary_entry["file"], self.vocabulary_entry["sha256"], "vocabulary")
        return path.read_text(encoding="utf-8").splitlines()

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
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WeightsError(f"Cannot read pretrained manifest {path}: {exc}") from exc
        found = problems(data)
        if found:
            raise WeightsError(f"Pretrained manifest {path} is not valid: " + "; ".join(found))
        known = set(REQUIRED_KEYS) | {"config", "labels", "vocabulary"}
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
            vocabulary_entry=data.get("vocabulary"),
            extra={k: v for k, v in data.items() if k not in known},
        )


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(directory: Path, name: str) -> dict[str, str]:
    """``{"file": name, "sha256": ...}`` of a file in ``directory``, as a manifest lists it."""
    return {"file": name, "sha256": sha256_file(directory / name)}


def find_manifest(name: str) -> Manifest | None:
    """The first manifest for ``name`` in the search order, or None when none ships."""
    for root in paths.pretrained_dirs():
        if (root / name / MANIFEST_NAME).is_file():
            return Manifest.read(root / name)
    return None


def write_manifest(directory: Path, name: str, weights_file: str, vocabulary_file: str | None = None,
                   **fields: Any) -> Manifest:
    """Record a freshly trained weights file (and vocabulary) with their hashes, plus the given fields.

    ``fields`` may be another manifest's (a run derived from it): the vocabulary it names is hashed again here.
    """
    directory.mkdir(parents=True, exist_ok=True)
    vocabulary_file = vocabulary_file or (fields.get("vocabulary") or {}).get("file")
    data: dict[str, Any] = {"name": name, "weights": file_entry(directory, weights_file)}
    if vocabulary_file:
        data["vocabulary"] = file_entry(directory, vocabulary_file)
    data.update({k: v for k, v in fields.items() if k not in ("vocabulary", "vocabulary_file")})
    (directory / MANIFEST_NAME).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return Manifest.read(directory)
