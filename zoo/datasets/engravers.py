"""Engravers other than Verovio: LilyPond and MuseScore 3 draw a one-staff MusicXML segment as a cropped PNG.

A recognizer trained on one engraver learns its spacing, beams, stems and glyphs; real scores come from many.
LilyPond (Debian ``lilypond``: its own spacing and the Emmentaler font) reads MusicXML through its
``musicxml2ly``; MuseScore 3 (Debian ``musescore3``, run headless with ``QT_QPA_PLATFORM=offscreen``) reads it
directly and draws with its Emmentaler or Gonville font. Both are laid out as one system with no title, part
name or measure number, as PrIMuS staves are, and cropped to the ink like Verovio's
(:func:`zoo.datasets.engrave.rasterize`). ``make setup`` installs both.

The label stays the segment's semantic encoding: what the segment's MusicXML says, drawn by another program.
Time signatures are the one place the programs disagree by default (LilyPond draws 4/4 and 2/2 as C and C/),
so the LilyPond source says which the label means.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.datasets.engrave import Engraving, EngravingError, crop_to_ink, encode_png

LILYPOND, MUSESCORE_EMMENTALER, MUSESCORE_GONVILLE = "LilyPond", "MuseScore-Emmentaler", "MuseScore-Gonville"
ENGRAVERS: tuple[str, ...] = (LILYPOND, MUSESCORE_EMMENTALER, MUSESCORE_GONVILLE)
_PROGRAMS = {LILYPOND: ("lilypond", "lilypond"), MUSESCORE_EMMENTALER: ("mscore3", "musescore3"),
             MUSESCORE_GONVILLE: ("mscore3", "musescore3")}  # engraver → (program, Debian package)
PIXELS_PER_SPACE = 11.0  # as Verovio's scale 60 draws: staves ~90-150 px high
TIMEOUT_SECONDS = 60
_MM_PER_INCH = 25.4


def available(name: str) -> bool:
    """Whether the program behind engraver ``name`` is installed."""
    return shutil.which(_PROGRAMS[name][0]) is not None


def engrave(xml: str, name: str, measure_numbers: bool = False) -> Engraving:
    """One-staff MusicXML → a cropped grayscale PNG drawn by engraver ``name`` (one of :data:`ENGRAVERS`);
    ``measure_numbers`` numbers every measure."""
    if name not in ENGRAVERS:
        raise ValueError(f"unknown engraver {name!r}; choose from {', '.join(ENGRAVERS)}")
    if not available(name):
        raise EngravingError(f"{name} is not installed: run `make setup` (Debian {_PROGRAMS[name][1]})")
    with tempfile.TemporaryDirectory(prefix="scorezoo-engrave-") as tmp:
        work = Path(tmp)
        png = (_lilypond(xml, work, measure_numbers) if name == LILYPOND
               else _musescore(xml, work, name.split("-", 1)[1], measure_numbers))
        gray, box = crop_to_ink(_gray(png))
    return Engraving(svg="", png=encode_png(gray), width=gray.shape[1], height=gray.shape[0], crop_box=box,
                     scale=1.0)


def plain_musicxml(xml: str) -> str:
    """The segment without what a staff crop would not show: titles, credits, creators and layout breaks (a part
    name stays: a staff shows it at its start)."""
    for pattern in (r"<movement-title>.*?</movement-title>", r"<work>.*?</work>", r"<credit\b.*?</credit>",
                    r"<creator\b.*?</creator>", r"<print\b[^>]*/>", r"<print\b.*?</print>"):
        xml = re.sub(pattern, "", xml, flags=re.S)
    return xml


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise EngravingError(f"{command[0]} took longer than {TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()[-1:]
        raise EngravingError(f"{command[0]} failed: {' '.join(tail) or f'exit {done.returncode}'}")


# -- LilyPond -------------------------------------------------------------------------------------------------

_LILYPOND_LAYOUT = r"""
\header { tagline = ##f }
\paper { page-breaking = #ly:one-line-breaking indent = 0 }
"""
_LILYPOND_BAR_NUMBERS = {
    False: r'\layout { \context { \Score \remove "Bar_number_engraver" } }',
    True: r"\layout { \context { \Score barNumberVisibility = #all-bar-numbers-visible "
          r"\override BarNumber.break-visibility = ##(#t #t #t) } }",
}
_LILYPOND_STAFF_SPACE_MM = 1.75  # staff size 20, musicxml2ly's default


def _lilypond(xml: str, work: Path, measure_numbers: bool) -> Path:
    (work / "in.musicxml").write_text(plain_musicxml(xml), encoding="utf-8")
    _run(["musicxml2ly", "--no-beaming", "-o", "in.ly", "in.musicxml"], work)
    source = lilypond_source((work / "in.ly").read_text(encoding="utf-8"), xml, measure_numbers)
    (work / "staff.ly").write_text(source, encoding="utf-8")
    dpi = round(PIXELS_PER_SPACE / _LILYPOND_STAFF_SPACE_MM * _MM_PER_INCH)
    _run(["lilypond", "-dcrop", "-dno-print-pages", "--png", f"-dresolution={dpi}", "-o", "staff", "staff.ly"], work)
    return work / "staff.cropped.png"


def lilypond_source(converted: str, xml: str, measure_numbers: bool = False) -> str:
    """musicxml2ly's output laid out as one titleless system, with time signatures drawn as the MusicXML says
    (numbers unless it asks for the common or cut symbol), and every measure numbered or none."""
    text = re.sub(r"\\header \{.*?\n\s*\}\n", "", converted, count=1, flags=re.S).replace("\\break", "")
    if not re.search(r'<time\b[^>]*symbol="(common|cut)"', xml):
        text = re.sub(r"\\time ", r"\\numericTimeSignature \\time ", text)
    return text + _LILYPOND_LAYOUT + _LILYPOND_BAR_NUMBERS[measure_numbers] + "\n"


# -- MuseScore 3 ----------------------------------------------------------------------------------------------

_MUSESCORE_STYLE = ("<pageWidth>60</pageWidth><pageHeight>6</pageHeight><pagePrintableWidth>59</pagePrintableWidth>"
                    "<pageEvenLeftMargin>0.5</pageEvenLeftMargin><pageOddLeftMargin>0.5</pageOddLeftMargin>"
                    "<lastSystemFillLimit>1</lastSystemFillLimit><showMeasureNumber>{numbers}</showMeasureNumber>"
                    "<measureNumberInterval>1</measureNumberInterval><measureNumberSystem>0</measureNumberSystem>"
                    "<musicalSymbolFont>{font}</musicalSymbolFont>")


def _musescore(xml: str, work: Path, font: str, measure_numbers: bool) -> Path:
    """MusicXML → MuseScore's own file (whose style says: a page 60 inches wide, so one system, never stretched)
    → PNG. MuseScore's MusicXML import keeps its default page, so the style is set on its own file."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    (work / "in.musicxml").write_text(plain_musicxml(xml), encoding="utf-8")
    _run(["mscore3", "-o", "in.mscx", "in.musicxml"], work, env)
    score = (work / "in.mscx").read_text(encoding="utf-8")
    style = _MUSESCORE_STYLE.format(font=font, numbers=int(measure_numbers))
    score, found = re.subn(r"<Style>", "<Style>" + style, score, count=1)
    if not found:
        raise EngravingError("MuseScore wrote a score without a style section")
    (work / "staff.mscx").write_text(score, encoding="utf-8")
    spatium = re.search(r"<Spatium>([\d.]+)</Spatium>", score)
    space_mm = float(spatium.group(1)) if spatium else 1.75
    dpi = round(PIXELS_PER_SPACE / space_mm * _MM_PER_INCH)
    _run(["mscore3", "-r", str(dpi), "-o", "staff.png", "staff.mscx"], work, env)
    pages = sorted(work.glob("staff-*.png"))
    if len(pages) != 1:
        raise EngravingError(f"MuseScore laid the segment out on {len(pages)} pages, expected one system")
    return pages[0]


# -- pixels ---------------------------------------------------------------------------------------------------

def _gray(png: Path) -> np.ndarray:
    """A PNG (MuseScore's are transparent) as grayscale on white paper."""
    if not png.is_file():
        raise EngravingError(f"the engraver wrote no image ({png.name})")
    with Image.open(io.BytesIO(png.read_bytes())) as im:
        rgba = im.convert("RGBA")
    paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(paper, rgba).convert("L"))

