"""Dataset recipes: which corpus collections make which dataset (JSON under ``data/recipes``)."""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from zoo import paths

T = TypeVar("T")


def recipe_path(name: str) -> Path:
    checkout = paths.source_checkout()
    if checkout is None:
        raise FileNotFoundError(
            f"Recipe {name!r} lives in the scorezoo repository (data/recipes/{name}.json); "
            "run the builders from a checkout or pass --recipe PATH"
        )
    return checkout / "data" / "recipes" / f"{name}.json"


def load_recipe(name_or_path: str | Path) -> dict[str, Any]:
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = recipe_path(str(name_or_path))
    return json.loads(path.read_text(encoding="utf-8"))


def section(cls: type[T], value: dict[str, Any] | None, name: str) -> T | None:
    """A recipe's ``name`` section as its typed dataclass ``cls`` (None when absent or empty): unknown keys get a
    sentence listing the known ones, and JSON lists become tuples."""
    if not value:
        return None
    known = {f.name for f in fields(cls)}
    unknown = set(value) - known
    if unknown:
        raise ValueError(f"recipe {name} has unknown keys {sorted(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
