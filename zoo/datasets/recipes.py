"""Dataset recipes: which corpus collections make which dataset (JSON under ``data/recipes``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo import paths


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
