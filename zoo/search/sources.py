"""What an index is built from and queried with: score files, page images, PDFs and recordings, read into pages
(grayscale arrays) or samples, with a sentence for anything that cannot be read.

Scores (MusicXML, .mxl, MEI, ABC, Humdrum) are read by music21 and engraved page by page by Verovio in a font the
models were trained on; images and PDFs are read into pages by :func:`zoo.preprocessing.pages.input_pages`
(PDFs by poppler's ``pdftoppm``); recordings go through the shared
audio decoder (:mod:`zoo.preprocessing.audio`), with its header checks.
"""
from __future__ import annotations

import io
from pathlib import Path

import cairosvg
import numpy as np
from PIL import Image

from zoo.datasets import engrave
from zoo.models.inputs import read_bytes
from zoo.preprocessing import audio, headers
from zoo.preprocessing import pages as staff_finding
from zoo.preprocessing.errors import AudioInputError, ImageInputError, InputError, plain_message

SCORE_SUFFIXES = (".musicxml", ".xml", ".mxl", ".mei", ".abc", ".krn")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
PDF_SUFFIXES = (".pdf",)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SHEET_SUFFIXES = SCORE_SUFFIXES + IMAGE_SUFFIXES + PDF_SUFFIXES
ENGRAVING_FONT = "Leipzig"  # one of the fonts the models were trained on (held-out fonts stay out of product code)
PAGE_OPTIONS = {"font": ENGRAVING_FONT, "scale": 40, "pageWidth": 2100, "pageHeight": 2970, "breaks": "auto",
                "header": "none", "footer": "none"}
RENDER_ZOOM = 2.5  # engraved pages are rasterized at 2100 × 2970 px, as an A4 page scanned at 250 dpi: at Verovio's
# own 840 px width a staff line is a fraction of a pixel, too faint to find staves by
MAX_PAGES = staff_finding.MAX_PAGES


class SourceError(InputError):
    """A file the index cannot use; the message says why."""


def modality_of(path: Path) -> str:
    """``sheet`` or ``audio`` by the file's suffix, or a SourceError naming what is accepted."""
    suffix = path.suffix.lower()
    if suffix in SHEET_SUFFIXES:
        return "sheet"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    raise SourceError(f"{path.name}: {suffix or 'no suffix'} is neither a score ({', '.join(SCORE_SUFFIXES)}), an "
                      f"image ({', '.join(IMAGE_SUFFIXES)}), a PDF nor a recording ({', '.join(AUDIO_SUFFIXES)})")


def expand(inputs: list[Path]) -> list[Path]:
    """Files as given, folders as the usable files under them (sorted); a missing path is a SourceError."""
    found: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in
                            SHEET_SUFFIXES + AUDIO_SUFFIXES)
        elif p.exists():
            found.append(p)
        else:
            raise SourceError(f"{p}: no such file or folder")
    return found


def pages(path: Path) -> list[np.ndarray]:
    """The pages of a score, image or PDF as grayscale uint8 arrays (paper 255)."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES or suffix in PDF_SUFFIXES:
        try:
            found = staff_finding.input_pages(read_bytes(path, ImageInputError))
            return [staff_finding.gray_image(page) for page in found]
        except ImageInputError as exc:
            raise SourceError(f"{path.name}: {exc}") from None
    if suffix in SCORE_SUFFIXES:
        return _engraved_pages(path)
    raise SourceError(f"{path.name}: not a score, image or PDF")


def _engraved_pages(path: Path) -> list[np.ndarray]:
    from music21 import musicxml

    from zoo.notation.readers import parse_file

    try:
        score = parse_file(path)
        xml = musicxml.m21ToXml.GeneralObjectExporter(score).parse().decode("utf-8")
    except Exception as exc:  # music21 raises many types for a file it cannot read
        raise SourceError(f"{path.name}: music21 cannot read it as a score ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None
    tk = engrave.new_toolkit()
    tk.setOptions(PAGE_OPTIONS)
    if not tk.loadData(xml):
        raise SourceError(f"{path.name}: Verovio cannot engrave it")
    count = tk.getPageCount()
    if count == 0:
        raise SourceError(f"{path.name}: the score has no music to engrave")
    if count > MAX_PAGES:
        raise SourceError(f"{path.name}: {count} pages; at most {MAX_PAGES} are indexed per file")
    out = []
    for page in range(1, count + 1):
        png = cairosvg.svg2png(bytestring=tk.renderToSVG(page).encode("utf-8"), background_color="white",
                               scale=RENDER_ZOOM)
        out.append(np.asarray(Image.open(io.BytesIO(png)).convert("L")))
    return out


def recording(path: Path | bytes) -> tuple[np.ndarray, int]:
    """Mono samples and their rate, decoded by the shared front end (any accepted format, rate and length)."""
    import tensorflow as tf

    data = read_bytes(path, AudioInputError)
    headers.audio_header(data)
    try:
        samples, rate = audio.decode_audio(tf.constant(data))
        return samples.numpy(), int(rate.numpy())
    except tf.errors.InvalidArgumentError as exc:
        raise AudioInputError(plain_message(exc)) from None
