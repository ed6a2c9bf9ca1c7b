"""Read an input file into pages, and split an engraved page of single-staff systems into staves (horizontal
projection profiles).

:func:`input_pages` turns what a user has (a PNG, JPEG or BMP; a WEBP or TIFF from a scanner or a phone, every
page of a multi-page TIFF; a PDF, page by page) into images the recognizer's graph decodes. Staff lines are the
rows whose ink runs across most of the page; runs of five evenly spaced lines form a staff, and the page is cut
half-way between staves so that ledger-line notes, clefs and fermatas stay with their own staff.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from zoo.preprocessing import headers
from zoo.preprocessing.errors import ImageInputError

LINE_FILL = 0.5  # a staff-line row has ink over at least this fraction of the widest row
CONVERTED_FORMATS = ("WEBP", "TIFF")  # read by Pillow and handed on as PNG
PDF_DPI = 250  # an A4 page becomes 2067 × 2923 px, as engraved pages are rendered for search
MAX_PAGES = 200  # a longer file is refused rather than read for minutes
PDF_SECONDS = 600


def input_pages(data: bytes) -> list[bytes]:
    """An input's pages as PNG, JPEG or BMP bytes, top to bottom: those formats as they are; WEBP and TIFF (each
    page of a multi-page TIFF) converted to PNG after their stated sizes are checked; a PDF rasterized page by
    page at :data:`PDF_DPI` by poppler's ``pdftoppm``. Anything else is an :class:`ImageInputError` naming it."""
    if data[:5] == b"%PDF-":
        return [png_bytes(page) for page in pdf_pages(data)]
    if not data:
        raise ImageInputError("image bytes are empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            if fmt not in CONVERTED_FORMATS:
                headers.image_header(data)  # PNG, JPEG, BMP: checked, read by the graph as they are
                return [data]
            out = []
            for k, frame in enumerate(ImageSequence.Iterator(img)):
                if k == MAX_PAGES:
                    raise ImageInputError(f"the {fmt} has more than {MAX_PAGES} pages; at most {MAX_PAGES} are read")
                headers.check_image_size(*frame.size)
                out.append(png_bytes(np.asarray(frame.convert("L"))))
            return out
    except Image.DecompressionBombError:
        headers.image_header(data)  # says how many pixels, in the recognizer's words
        raise
    except UnidentifiedImageError:  # Pillow's message names only its in-memory buffer
        raise ImageInputError("not an image or PDF (PNG, JPEG, BMP, WEBP, TIFF or PDF): no decoder recognizes its "
                              "first bytes") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageInputError(f"not an image or PDF (PNG, JPEG, BMP, WEBP, TIFF or PDF): {exc}") from None


def pdf_pages(data: bytes) -> list[np.ndarray]:
    """A PDF's pages as grayscale arrays (paper 255), rasterized by poppler's ``pdftoppm`` (``make setup``
    installs it): a damaged, encrypted or empty PDF is an :class:`ImageInputError` with poppler's reason."""
    binary = shutil.which("pdftoppm")
    if binary is None:
        raise ImageInputError("reading PDFs needs poppler's pdftoppm: run `make setup` (apt-get install poppler-utils)")
    with tempfile.TemporaryDirectory(prefix="scorezoo-pdf-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(data)
        try:
            subprocess.run([binary, "-r", str(PDF_DPI), "-gray", "-png", "-l", str(MAX_PAGES), str(source),
                            f"{tmp}/page"], check=True, capture_output=True, timeout=PDF_SECONDS)
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace").strip().splitlines()
            raise ImageInputError(f"not a readable PDF ({detail[-1] if detail else 'pdftoppm failed'})") from None
        except subprocess.TimeoutExpired:
            raise ImageInputError(f"rasterizing the PDF took over {PDF_SECONDS // 60} minutes") from None
        files = sorted(Path(tmp).glob("page*.png"))
        if not files:
            raise ImageInputError("the PDF has no pages")
        return [np.asarray(Image.open(f).convert("L")) for f in files]


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
    """What to read of an image: each staff's crop (a page of one staff is cut to it too: a staff in a page of
    paper read 4 flats for 3 where its crop read right), else the image itself (staff lines too faint to split on,
    as in a photo). The library, the CLI and the serving client all read pages this way, so a page gets the same
    answer from each."""
    return split_staves(data) or [data]


def input_staves(data: bytes) -> list[tuple[int, bytes]]:
    """Every staff to read of an input file, with its page number (1-based): each page of :func:`input_pages`
    cut by :func:`staff_images`. The library, the CLI and the serving client read inputs this way."""
    return [(k, staff) for k, page in enumerate(input_pages(data), start=1) for staff in staff_images(page)]


def is_staff_reading(tokens: list[str]) -> bool:
    """Whether a reading is of a staff: a clef and at least one note or rest. Every test staff and every phone
    photo of one read so (120 of 120); text lines, blank photos and ruled paper read a key signature, a barline or a
    lone clef instead (40 of 40; decision record 0022)."""
    from zoo.notation.tokens import MUSIC_KINDS, kinds_of  # music21 is loaded only when a page is read

    kinds = kinds_of(tokens)
    return "clef" in kinds and bool(kinds & MUSIC_KINDS)


def page_results(results: list[dict], staves: list[tuple[int, bytes]]) -> list[dict]:
    """The results of :func:`input_staves`' staves that read as staves (a band of a page that reads as no clef and
    no note, such as a title or a text line, is not one and is left out), each told its page when the input had
    more than one; an input where nothing reads as a staff is an :class:`ImageInputError`."""
    kept = [(r, page) for r, (page, _) in zip(results, staves) if is_staff_reading(r["tokens"])]
    if not kept:
        raise ImageInputError("no staff found: nothing in the image reads as a clef followed by notes or rests")
    several = len({page for page, _ in staves}) > 1
    for result, page in kept:
        if several:
            result["page"] = page
    return [r for r, _ in kept]
