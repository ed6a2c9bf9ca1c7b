"""Dispatch ``scorezoo data build NAME`` to the dataset's builder."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

BUILDERS = {"staff": "zoo.datasets.staff", "pairs": "zoo.datasets.pairs", "genre": "zoo.datasets.genre"}


def build(dataset: str, out_dir: Path, **kwargs: Any) -> dict[str, Any]:
    if dataset not in BUILDERS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(BUILDERS)}")
    module = importlib.import_module(BUILDERS[dataset])
    return module.build_dataset(Path(out_dir), **kwargs)
