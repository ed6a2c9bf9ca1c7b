"""Reading raw model inputs (paths, bytes, file objects) with errors that name the problem."""
from __future__ import annotations

import io
from pathlib import Path

MAX_FILE_BYTES = 1 << 30  # larger than any input the models accept (30 min of 16-bit stereo 96 kHz is 660 MB)


def read_bytes(raw: bytes | bytearray | str | Path | io.IOBase, error: type[Exception]) -> bytes:
    """The input's bytes, or ``error`` with a sentence: not found, a directory, unreadable or too large."""
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    if isinstance(raw, io.IOBase):
        return raw.read()
    path = Path(raw)
    if path.is_dir():
        raise error(f"{path} is a directory, not a file")
    if not path.exists():
        raise error(f"file not found: {path}")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise error(f"{path} is not a regular file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise error(f"{path} is {size / 2**20:,.0f} MB; inputs of at most {MAX_FILE_BYTES >> 20:,} MB are read")
        return path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
