"""What the page shows and plays, made on the server with the product's own tools (no CDN, no npm): the recognized
notes engraved by Verovio (SVG, with its timemap so the page can follow the notes), their MIDI and FluidSynth
audio; a recording's log-mel spectrogram; a generated piece's audio and piano roll; a matched passage outlined on
its page."""
from __future__ import annotations

import base64
import io
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.datasets import events as ev

LOW_CONFIDENCE = 0.5  # tokens below it are highlighted on the page
VEROVIO_OPTIONS = {"header": "none", "footer": "none", "adjustPageHeight": True, "adjustPageWidth": True,
                   "pageWidth": 2000, "scale": 55,
                   "breaks": "auto", "pageMarginLeft": 20, "pageMarginRight": 20, "pageMarginTop": 20}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def score_view(tokens: Sequence[str]) -> dict[str, Any]:
    """Recognized tokens → ``musicxml`` (text), ``svg`` (every page), ``timemap`` (Verovio: note ids on and off
    by milliseconds), ``midi`` and ``wav`` (base64; the audio is FluidSynth's rendering of that very MIDI, so the
    timemap follows what is heard), or ``error`` when the tokens make no score."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    from zoo.datasets import engrave, synth
    from zoo.notation.decoder import tokens_to_stream
    from zoo.preprocessing import audio

    try:
        musicxml = GeneralObjectExporter(tokens_to_stream(list(tokens))).parse().decode("utf-8")
    except Exception as exc:  # noqa: BLE001 - music21 refuses some token soups a weak reading can give
        return {"error": f"these tokens make no score: {exc}"}
    tk = engrave.new_toolkit()  # made in the page's worker thread: see its docstring
    tk.setOptions(VEROVIO_OPTIONS)
    if not tk.loadData(musicxml):
        return {"musicxml": musicxml, "error": "Verovio could not engrave the reading"}
    svg = [tk.renderToSVG(page) for page in range(1, tk.getPageCount() + 1)]
    midi = base64.b64decode(tk.renderToMIDI())
    samples = synth.render_midi(midi, audio.SAMPLE_RATE)
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    wav = audio.wav_bytes(0.9 * samples / peak if peak > 0 else samples, audio.SAMPLE_RATE)
    timemap = tk.renderToTimemap()  # a JSON string in some Verovio versions, a list in others
    return {"musicxml": musicxml, "svg": svg, "timemap": json.loads(timemap) if isinstance(timemap, str) else timemap,
            "midi": b64(midi), "wav": b64(wav)}


def spectrogram_png(data: bytes, title: str = "") -> str:
    """A recording's log-mel spectrogram through the shared audio front end, as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.generation import render
    from zoo.preprocessing import audio

    samples, rate = audio.decode_audio(data)
    fig, ax = plt.subplots(figsize=(10, 3))
    render.draw_log_mel(ax, audio.resample(samples, rate).numpy())
    ax.set_title(title)
    fig.tight_layout()
    return _png(fig)


def piece_view(notes: list[ev.Note], program: int, seconds: float, title: str) -> dict[str, Any]:
    """A generated piece: ``wav``, ``midi`` and ``png`` (piano roll over log-mel), base64, as `generate` writes."""
    from zoo.generation import render
    from zoo.preprocessing import audio

    samples = render.render(notes, program, seconds)
    with tempfile.TemporaryDirectory(prefix="scorezoo-web-") as scratch:
        png = render.plot(notes, samples, Path(scratch) / "piece.png", title).read_bytes()
    return {"wav": b64(audio.wav_bytes(samples, audio.SAMPLE_RATE)), "midi": b64(ev.notes_to_midi(notes, program)),
            "png": b64(png), "notes": len(notes)}


def outlined_page(gray: np.ndarray, system: int, x: float, half_width: int = 110) -> str | None:
    """A page (grayscale) with the matched passage outlined: system ``system`` (1-based, from the top, as the index
    counts them) around ``x``, as a base64 PNG; None when the page has no such system."""
    from PIL import Image, ImageDraw

    from zoo.preprocessing import pages

    crops = pages.staves_or_page(gray)
    if not 1 <= system <= len(crops):
        return None
    crop, (left, top) = crops[system - 1]
    image = Image.fromarray(gray).convert("RGB")
    draw = ImageDraw.Draw(image)
    box = (max(0, x - half_width), top, min(gray.shape[1] - 1, x + half_width), top + crop.shape[0])
    draw.rectangle(box, outline=(220, 30, 30), width=4)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return b64(out.getvalue())


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=90)
    plt.close(fig)
    return b64(out.getvalue())
