"""Where scorezoo keeps weights, data and caches (``SCOREZOO_HOME`` overrides)."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_PRETRAINED_DIR = PACKAGE_DIR / "pretrained"


def home() -> Path:
    """Root for user weights and caches: ``$SCOREZOO_HOME`` or ``~/.scorezoo``."""
    return Path(os.environ.get("SCOREZOO_HOME") or Path.home() / ".scorezoo").expanduser()


def source_checkout() -> Path | None:
    """The repository root when running from a checkout (editable install), else None."""
    root = PACKAGE_DIR.parent
    return root if (root / "data" / "recipes").is_dir() and (root / "setup.py").is_file() else None


def data_dir() -> Path:
    """Default build cache for datasets.

    ``$SCOREZOO_HOME/data`` when SCOREZOO_HOME is set; in a source checkout the
    git-ignored ``data/cache``; otherwise ``~/.scorezoo/data``.
    """
    if os.environ.get("SCOREZOO_HOME"):
        return home() / "data"
    checkout = source_checkout()
    return checkout / "data" / "cache" if checkout else home() / "data"


def portable(path: str | Path) -> str:
    """``path`` as a manifest should record it: relative to the source checkout when inside it, so a shipped
    manifest does not carry the path of the machine that trained the model."""
    resolved, checkout = Path(path).resolve(), source_checkout()
    if checkout is not None and resolved.is_relative_to(checkout):
        return str(resolved.relative_to(checkout))
    return str(path)


def pretrained_dirs() -> list[Path]:
    """Search order for pretrained manifests: user overrides first, then shipped ones."""
    return [home() / "pretrained", SHIPPED_PRETRAINED_DIR]
