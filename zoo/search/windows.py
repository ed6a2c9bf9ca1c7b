"""Cut pages and recordings into the windows a retrieval model embeds, each with where it is.

* A page: staves are found by their lines (:mod:`zoo.preprocessing.pages`), and along each staff a snippet is cut
  every :data:`SHEET_HOP_PX` snippet pixels (half a staff height) with :func:`zoo.preprocessing.snippets.cut_snippets`,
  the cut the models were trained on. Position: page (1-based), system (the staff's number from the top of the page,
  1-based) and x (the window centre, in page pixels).
* A recording: :data:`snippets.EXCERPT_SECONDS` windows every :data:`AUDIO_HOP_SECONDS`, through the shared front end
  (:func:`zoo.preprocessing.audio.recording_log_mels`). Position: the window centre in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.preprocessing import pages as staff_finding
from zoo.preprocessing import snippets

SHEET_HOP_PX = 20  # snippet pixels between windows along a staff (half the staff height)
AUDIO_HOP_SECONDS = 0.5
INK = 128  # darker than this is ink when finding staff lines


@dataclass
class Windows:
    """Network inputs [N, ...] of one file's windows and their positions (page, system, x, seconds; None where
    not applicable)."""
    inputs: np.ndarray
    positions: list[dict[str, float | int | None]]

    def __len__(self) -> int:
        return len(self.positions)


def staves(page: np.ndarray) -> list[tuple[float, float, int, int]]:
    """(top line, bottom line, first column, last column) of each staff on a grayscale page, top to bottom."""
    ink = page < INK
    found = []
    for top, bottom in staff_finding.group_staves(staff_finding.staff_line_rows(ink)):
        band = ink[int(top):int(bottom) + 1]
        cols = np.flatnonzero(band.mean(axis=0) > 0.5)  # where most rows of the staff are inked: its lines
        if len(cols):
            found.append((top, bottom, int(cols[0]), int(cols[-1])))
    return found


def page_windows(page: np.ndarray, page_number: int = 1) -> Windows:
    """Every staff's snippets on one page, left to right, as network inputs; none when no staff is found."""
    inputs, positions = [], []
    for system, (top, bottom, left, right) in enumerate(staves(page), start=1):
        zoom = snippets.STAFF_HEIGHT_PX / max(1.0, bottom - top)
        hop = SHEET_HOP_PX / zoom
        xs = list(np.arange(left, right + 1, hop)) or [float(left)]
        cut = snippets.cut_snippets(page, (top, bottom), xs)
        inputs.append(cut)
        positions += [{"page": page_number, "system": system, "x": round(float(x), 1), "seconds": None} for x in xs]
    if not inputs:
        return Windows(np.zeros((0, *snippets.SHEET_SHAPE), np.float32), [])
    paper = np.concatenate(inputs).astype(np.float32)[..., None] / 255.0
    return Windows(snippets.sheet_input(paper).numpy(), positions)


def recording_windows(samples: np.ndarray, rate: int) -> Windows:
    """The recording's excerpts every :data:`AUDIO_HOP_SECONDS` as log-mel inputs, with their centre times."""
    from zoo.preprocessing import audio

    mels = audio.recording_log_mels(samples, rate, snippets.EXCERPT_SECONDS, AUDIO_HOP_SECONDS).numpy()
    starts = audio.window_starts(len(samples), rate, snippets.EXCERPT_SECONDS, AUDIO_HOP_SECONDS).numpy()
    length = len(samples) / rate
    centres = [min(s / rate + snippets.EXCERPT_SECONDS / 2, (s / rate + length) / 2) for s in starts]
    return Windows(mels, [{"page": None, "system": None, "x": None, "seconds": round(float(t), 2)} for t in centres])
