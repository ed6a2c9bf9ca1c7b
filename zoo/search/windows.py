"""Cut pages and recordings into the windows a retrieval model embeds, each with where it is.

* A page: staves are found by their lines (:mod:`zoo.preprocessing.pages`), and along each staff a snippet is cut
  every half staff height by :func:`zoo.preprocessing.snippets.staff_inputs`, the cut the models were trained on
  and the served ``embed_sheet`` makes. Position: page (1-based), system (the staff's number from the top of the page,
  1-based) and x (the window centre, in page pixels).
* A recording: :data:`snippets.EXCERPT_SECONDS` windows every :data:`snippets.EXCERPT_HOP_SECONDS`, through the
  shared front end (:func:`zoo.preprocessing.snippets.recording_inputs`). Position: the window centre in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from zoo.preprocessing import image, snippets
from zoo.preprocessing import pages as staff_finding


@dataclass
class Windows:
    """Network inputs [N, ...] of one file's windows and their positions (page, system, x, seconds; None where
    not applicable)."""
    inputs: np.ndarray
    positions: list[dict[str, float | int | None]]

    def __len__(self) -> int:
        return len(self.positions)


def page_windows(page: np.ndarray, page_number: int = 1) -> Windows:
    """Every staff's snippets on one grayscale page, top to bottom and left to right; none when no staff is found.
    A page of one staff, or an image whose staff lines are too faint to split on, is read as one staff image."""
    inputs, positions = [], []
    for system, (crop, (left, _)) in enumerate(staff_finding.staves_or_page(page), start=1):
        try:
            found, xs = snippets.staff_inputs(image.to_paper(crop))
        except tf.errors.InvalidArgumentError:  # no staff line in this crop
            continue
        inputs.append(found.numpy())
        positions += [{"page": page_number, "system": system, "x": round(float(x) + left, 1), "seconds": None}
                      for x in xs.numpy()]
    if not inputs:
        return Windows(np.zeros((0, *snippets.SHEET_SHAPE), np.float32), [])
    return Windows(np.concatenate(inputs), positions)


def recording_windows(samples: np.ndarray, rate: int) -> Windows:
    """The recording's excerpts every :data:`snippets.EXCERPT_HOP_SECONDS` as log-mel inputs, with their centres."""
    mels, centres = snippets.recording_inputs(samples, rate)
    return Windows(mels.numpy(), [{"page": None, "system": None, "x": None, "seconds": round(float(t), 2)}
                                  for t in centres.numpy()])
