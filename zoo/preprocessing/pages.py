"""Split an engraved page of single-staff systems into staves (horizontal projection profiles).

Staff lines are the rows whose ink runs across most of the page; runs of five
evenly spaced lines form a staff, and the page is cut half-way between staves so
that ledger-line notes, clefs and fermatas stay with their own staff.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo.preprocessing import headers
from zoo.preprocessing.errors import ImageInputError

LINE_FILL = 0.5  # a staff-line row has ink over at least this fraction of the widest row


def gray_image(data: bytes) -> np.ndarray:
    """The page in grayscale; its header is checked first, so a decompression bomb is refused undecoded."""
    headers.image_header(data)
    try:
        return np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageInputError(f"not an image: {exc}") from None


def staff_line_rows(ink: np.ndarray) -> list[float]:
    """Centres of the runs of rows that look like staff lines."""
    profile = ink.sum(axis=1).astype(float)
    if profile.max() == 0:
        return []
    rows = np.flatnonzero(profile >= LINE_FILL * profile.max())
    runs = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    return [float(r.mean()) for r in runs if len(r)]


def group_staves(lines: list[float]) -> list[tuple[float, float]]:
    """(top line, bottom line) of each run of lines spaced like one staff."""
    if len(lines) < 2:
        return []
    gaps = np.diff(lines)
    space = float(np.median(gaps))
    staves, start = [], 0
    for i, gap in enumerate(gaps, start=1):
        if gap > 2.0 * space:
            staves.append((lines[start], lines[i - 1]))
            start = i
    staves.append((lines[start], lines[-1]))
    return [(a, b) for a, b in staves if b - a >= 2.5 * space]  # at least ~4 lines


def staff_crops(gray: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Each staff of a grayscale page, top to bottom, cropped to its ink between the midlines to its neighbours,
    with the crop's (left, top) on the page; none if no staff lines are found."""
    ink = gray < 128
    staves = group_staves(staff_line_rows(ink))
    if not staves:
        return []
    cuts = [0] + [int((staves[k][1] + staves[k + 1][0]) / 2) for k in range(len(staves) - 1)] + [gray.shape[0]]
    crops = []
    for top, bottom in zip(cuts[:-1], cuts[1:]):
        band = gray[top:bottom]
        cols = np.flatnonzero((band < 128).any(axis=0))
        rows = np.flatnonzero((band < 128).any(axis=1))
        y0, x0 = max(0, rows[0] - 2), max(0, cols[0] - 2)
        crops.append((band[y0: rows[-1] + 3, x0: cols[-1] + 3], (int(x0), int(top + y0))))
    return crops


def staves_or_page(gray: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """What to window of a page: each staff's crop with its (left, top) when it holds several, else the whole page
    at (0, 0) (one staff, or staff lines too faint to split on). The library's search windows and the serving
    client cut pages this way, so a page gets the same answer from each."""
    crops = staff_crops(gray)
    return crops if len(crops) > 1 else [(gray, (0, 0))]


def png_bytes(gray: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="PNG")
    return buf.getvalue()


def split_staves(data: bytes) -> list[bytes]:
    """PNG crops of every staff on the page, top to bottom (a single staff gives itself back); none if no staff
    lines are found (too faint to split on, as in a photo)."""
    return [png_bytes(band) for band, _ in staff_crops(gray_image(data))]


def staff_images(data: bytes) -> list[bytes]:
    """What to read of an image: each staff's crop when it is a page of several, else the image itself (one staff,
    or staff lines too faint to split on, as in a photo). The library, the CLI and the serving client all read
    pages this way, so a page gets the same answer from each."""
    crops = split_staves(data)
    return crops if len(crops) > 1 else [data]
