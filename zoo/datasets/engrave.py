"""Verovio engraving of one-staff segments to grayscale PNG, PrIMuS style.

PrIMuS incipits were engraved by Verovio as a single system with no title, part
name or page furniture; we do the same, in the three SMuFL fonts PrIMuS used.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import cairosvg
import numpy as np
import verovio
from PIL import Image

FONTS: tuple[str, ...] = ("Leipzig", "Bravura", "Gootville")
DEFAULT_SCALE = 60  # ≈ 11 px per staff space: staves come out ~90–150 px high

BASE_OPTIONS: dict[str, Any] = {
    "header": "none",
    "footer": "none",
    "breaks": "none",
    "adjustPageHeight": True,
    "adjustPageWidth": True,
    "pageMarginLeft": 10,
    "pageMarginRight": 10,
    "pageMarginTop": 0,
    "pageMarginBottom": 0,
    "mnumInterval": 0,
    "svgViewBox": False,
    "svgHtml5": True,  # notes carry data-id attributes we can find again
}


class EngravingError(RuntimeError):
    """Verovio could not load or lay out a segment."""


@dataclass(frozen=True)
class Engraving:
    svg: str
    png: bytes
    width: int
    height: int
    crop_box: tuple[int, int, int, int]  # (left, top, right, bottom) of the PNG in SVG pixels
    scale: float  # PNG pixels per SVG user unit


def new_toolkit() -> verovio.toolkit:
    """A quiet Verovio toolkit that finds its fonts in whichever thread makes it.

    Verovio keeps its default resource path per thread and sets it when the module is imported, so a toolkit made
    in another thread (a web server's worker) would look for its fonts in the wheel's build folder."""
    verovio.enableLog(verovio.LOG_OFF)
    tk = verovio.toolkit(False)
    tk.setResourcePath(str(resources.files("verovio") / "data"))
    return tk


@cache
def _toolkit(font: str) -> verovio.toolkit:
    if font not in FONTS:
        raise ValueError(f"Unknown font {font!r}; choose from {', '.join(FONTS)}")
    return new_toolkit()


def load(data: str, font: str = "Leipzig", scale: int = DEFAULT_SCALE, tempo_factor: float = 1.0,
         multirest_width: float | None = None, measure_numbers: bool = False) -> verovio.toolkit:
    """Load MusicXML/MEI text into the per-process toolkit for ``font``, laid out as one system.

    ``multirest_width`` (MEI virtual units) draws multi-measure rests that long instead of Verovio's
    default: the 2017 Verovio that engraved PrIMuS drew them about half as long as 6.4 does. ``measure_numbers``
    numbers every measure, as some editions do."""
    tk = _toolkit(font)
    tk.setOptions({**BASE_OPTIONS, "font": font, "scale": scale, "midiTempoAdjustment": tempo_factor,
                   "mnumInterval": 1 if measure_numbers else 0})
    if not tk.loadData(data):
        raise EngravingError("Verovio could not load the segment")
    if "<multiple-rest" in data:
        _fix_multirests(tk, multirest_width)
    if tk.getPageCount() != 1:
        raise EngravingError(f"segment laid out on {tk.getPageCount()} pages, expected one system")
    return tk


def _fix_multirests(tk: verovio.toolkit, width: float | None) -> None:
    """Verovio's MusicXML import (6.4) repeats the opening clef inside a multi-measure rest's
    layer and draws it as a clef change after the rest; the staff definition already has it.
    MusicXML cannot say how long to draw the rest; MEI's ``multiRest@width`` can."""
    mei = tk.getMEI()
    fixed = re.sub(r"(<layer\b[^>]*>\s*)<clef\b[^>]*/>(\s*<multiRest\b)", r"\1\2", mei)
    if width is not None:
        if width <= 0:
            raise ValueError(f"multirest_width must be positive, got {width}")
        fixed = re.sub(r"<multiRest\b", f'<multiRest width="{width:g}"', fixed)
    if fixed != mei and not tk.loadData(fixed):
        raise EngravingError("Verovio could not reload the segment")


def rasterize(svg: str, margin: int = 2) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """SVG → grayscale uint8 array on white, cropped to the ink with a small margin."""
    png = cairosvg.svg2png(bytestring=svg.encode("utf-8"), background_color="white")
    return crop_to_ink(np.asarray(Image.open(io.BytesIO(png)).convert("L")), margin)


def crop_to_ink(gray: np.ndarray, margin: int = 2) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The image cut to its ink with ``margin`` pixels of paper, and the box cut (left, top, right, bottom)."""
    ink = np.argwhere(gray < 250)
    if ink.size == 0:
        raise EngravingError("engraving is blank")
    top, left = np.maximum(ink.min(0) - margin, 0)
    bottom, right = np.minimum(ink.max(0) + margin + 1, gray.shape)
    return gray[top:bottom, left:right], (int(left), int(top), int(right), int(bottom))


def encode_png(gray: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def engrave(data: str, font: str = "Leipzig", scale: int = DEFAULT_SCALE,
            multirest_width: float | None = None, measure_numbers: bool = False) -> Engraving:
    """Engrave a one-staff score as a cropped grayscale PNG."""
    tk = load(data, font, scale, multirest_width=multirest_width, measure_numbers=measure_numbers)
    svg = tk.renderToSVG(1)
    gray, box = rasterize(svg)
    return Engraving(svg=svg, png=encode_png(gray), width=gray.shape[1], height=gray.shape[0], crop_box=box,
                     scale=svg_pixel_scale(svg))


def svg_pixel_scale(svg: str) -> float:
    """Rasterized pixels per inner-SVG user unit (Verovio draws in a scaled inner viewBox)."""
    outer = re.search(r'<svg[^>]*width="([\d.]+)px"', svg)
    inner = re.search(r'class="definition-scale"[^>]*viewBox="[\d.]+ [\d.]+ ([\d.]+) [\d.]+"', svg)
    if not (outer and inner):
        return 1.0
    return float(outer.group(1)) / float(inner.group(1))
