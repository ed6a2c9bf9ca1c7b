"""Reading raw model inputs (paths, bytes, file objects) with errors that name the problem."""
from __future__ import annotations

import io
from pathlib import Path


def read_bytes(raw: bytes | bytearray | str | Path | io.IOBase, error: type[Exception]) -> bytes:
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    if isinstance(raw, io.IOBase):
        return raw.read()
    path = Path(raw)
    if not path.is_file():
        raise error(f"file not found: {path}")
    return path.read_bytes()
