"""What differs between model families in the pipeline: one small :class:`FamilySpec` each, in :data:`FAMILIES`.

Adding a family = a model module in ``zoo/models/``, a module with ``preprocessing_fn`` and ``run_fn`` beside
``tfx_pipeline/genre_module.py``, a reviewed schema under ``tfx_pipeline/schemas/<family>/`` and a spec here.
"""
from __future__ import annotations

import difflib

from tfx_pipeline.families.base import (
    EXAMPLES_SIGNATURE,
    SERVING_SIGNATURE,
    TRANSFORM_SIGNATURE,
    FamilySpec,
)
from tfx_pipeline.families.generation import GENERATION
from tfx_pipeline.families.genre import GENRE
from tfx_pipeline.families.omr import OMR
from tfx_pipeline.families.retrieval import RETRIEVAL

__all__ = ["EXAMPLES_SIGNATURE", "FAMILIES", "GENERATION", "GENRE", "OMR", "RETRIEVAL", "SERVING_SIGNATURE",
           "TRANSFORM_SIGNATURE", "FamilySpec", "get_family"]

FAMILIES: dict[str, FamilySpec] = {spec.name: spec for spec in (GENRE, OMR, RETRIEVAL, GENERATION)}


def get_family(name: str) -> FamilySpec:
    try:
        return FAMILIES[name]
    except KeyError:
        close = difflib.get_close_matches(name, FAMILIES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"Unknown pipeline family {name!r}.{hint} Families: {', '.join(sorted(FAMILIES))}") from None
