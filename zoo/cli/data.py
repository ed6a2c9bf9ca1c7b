"""``scorezoo data …``: encode scores to PrIMuS tokens, build and preview datasets."""
from __future__ import annotations

import click


@click.group()
def data() -> None:
    """Dataset tools: PrIMuS encoding, builders, previews."""
