"""What the retrieval models see: a sheet snippet and a 2-second audio excerpt, from bytes, in the graph.

The pairs dataset, the retrieval trainer, the library, the search windows and the serving signatures all call these
two functions, so a snippet is prepared one way everywhere.

* Sheet: a grayscale window :data:`SNIPPET_HEIGHT` × :data:`SNIPPET_WIDTH` of a page scaled so that its staff is
  :data:`STAFF_HEIGHT_PX` high, centred on the staff (MSMD's geometry). The network sees it inverted (ink 1, paper 0)
  and area-downsampled by :data:`DOWNSAMPLE`.
* Audio: :data:`EXCERPT_SECONDS` of audio through the shared front end (:mod:`zoo.preprocessing.audio`), 83 log-mel
  frames × 128 bands.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from zoo.preprocessing import audio, image

STAFF_HEIGHT_PX = 40  # the staff's height (top to bottom line) in a snippet
SNIPPET_HEIGHT, SNIPPET_WIDTH = 160, 200  # the window cut around a staff position
DOWNSAMPLE = 2  # the network sees 80 × 100: a staff space is still 5 px
EXCERPT_SECONDS = 2.0
SHEET_SHAPE = (SNIPPET_HEIGHT // DOWNSAMPLE, SNIPPET_WIDTH // DOWNSAMPLE, 1)
AUDIO_SHAPE = (audio.num_frames(EXCERPT_SECONDS), audio.N_MELS)


def sheet_input(paper: tf.Tensor) -> tf.Tensor:
    """Snippets [..., SNIPPET_HEIGHT, SNIPPET_WIDTH, 1] with paper 1 → network input [..., 80, 100, 1], ink 1."""
    paper = tf.convert_to_tensor(paper, tf.float32)
    return 1.0 - tf.image.resize(paper, SHEET_SHAPE[:2], method="area")


def snippet_bytes_to_input(image_bytes: tf.Tensor) -> tf.Tensor:
    """PNG/JPEG/BMP bytes of one snippet → [80, 100, 1]. Another size is resized to the snippet's (a snippet is
    defined by its staff height, so a caller cutting its own must scale the staff to :data:`STAFF_HEIGHT_PX`)."""
    paper = image.decode_image(image_bytes)
    return sheet_input(tf.image.resize(paper, (SNIPPET_HEIGHT, SNIPPET_WIDTH), method="area"))


def audio_bytes_to_input(audio_bytes: tf.Tensor, formats: Sequence[str] = audio.FORMATS) -> tf.Tensor:
    """Encoded audio → [83, 128] log-mel of its centre :data:`EXCERPT_SECONDS` (zero-padded when shorter)."""
    return audio.audio_bytes_to_log_mel(audio_bytes, EXCERPT_SECONDS, formats)


def cut_snippets(page: np.ndarray, staff: tuple[float, float], xs: Sequence[float]) -> np.ndarray:
    """Snippets [len(xs), SNIPPET_HEIGHT, SNIPPET_WIDTH] (uint8, paper 255) of a grayscale page: the page scaled so
    that ``staff`` (top and bottom line rows) is :data:`STAFF_HEIGHT_PX` high, windows centred on the staff at each
    page column of ``xs``, white beyond the page. The pairs dataset and the search windows cut snippets here."""
    zoom = STAFF_HEIGHT_PX / max(1.0, staff[1] - staff[0])
    scaled = Image.fromarray(page).resize((max(1, round(page.shape[1] * zoom)), max(1, round(page.shape[0] * zoom))),
                                          Image.BILINEAR)
    cy = (staff[0] + staff[1]) / 2 * zoom
    out = np.empty((len(xs), SNIPPET_HEIGHT, SNIPPET_WIDTH), np.uint8)
    for i, x in enumerate(xs):
        left, top = round(x * zoom - SNIPPET_WIDTH / 2), round(cy - SNIPPET_HEIGHT / 2)
        canvas = Image.new("L", (SNIPPET_WIDTH, SNIPPET_HEIGHT), 255)
        canvas.paste(scaled, (-left, -top))
        out[i] = np.asarray(canvas)
    return out
