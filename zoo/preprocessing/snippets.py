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

from zoo.preprocessing import audio, image

STAFF_HEIGHT_PX = 40  # the staff's height (top to bottom line) in a snippet
SNIPPET_HEIGHT, SNIPPET_WIDTH = 160, 200  # the window cut around a staff position
DOWNSAMPLE = 2  # the network sees 80 × 100: a staff space is still 5 px
EXCERPT_SECONDS = 2.0
EXCERPT_HOP_SECONDS = 0.5  # between the excerpts a recording is cut into for search
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


def staff_windows(page: tf.Tensor, top: tf.Tensor, bottom: tf.Tensor, xs: tf.Tensor) -> tf.Tensor:
    """Snippets [len(xs), SNIPPET_HEIGHT, SNIPPET_WIDTH, 1] (paper 1) along one staff of a page [H, W, 1] (paper 1);
    :func:`sheet_input` makes them network inputs.

    The page is scaled (with antialiasing) so that the staff, from its ``top`` to its ``bottom`` line (page rows), is
    :data:`STAFF_HEIGHT_PX` high; each window is SNIPPET_HEIGHT × SNIPPET_WIDTH, centred on the staff at page column
    ``xs[i]``, white beyond the page. Graph code: the pairs dataset, the search windows and the ``embed_sheet``
    serving signature all cut snippets here.
    """
    page = tf.convert_to_tensor(page, tf.float32)
    top, bottom = tf.cast(top, tf.float32), tf.cast(bottom, tf.float32)
    zoom = STAFF_HEIGHT_PX / tf.maximum(1.0, bottom - top)
    size = tf.cast(tf.shape(page)[:2], tf.float32)
    # only the rows a window can reach are scaled, with a margin that keeps the resampling of the edge rows exact
    reach = (SNIPPET_HEIGHT / 2 + 4) / zoom
    centre = (top + bottom) / 2
    first = tf.cast(tf.clip_by_value(tf.floor(centre - reach), 0, size[0] - 1), tf.int32)
    last = tf.cast(tf.clip_by_value(tf.math.ceil(centre + reach), 1, size[0]), tf.int32)
    band = page[first:last]
    band_size = tf.cast(tf.round(tf.cast(tf.shape(band)[:2], tf.float32) * zoom), tf.int32)
    scaled = tf.image.resize(band, tf.maximum(band_size, 1), method="bilinear", antialias=True)
    pad_y, pad_x = SNIPPET_HEIGHT, SNIPPET_WIDTH
    padded = tf.pad(scaled, [[pad_y, pad_y], [pad_x, pad_x], [0, 0]], constant_values=1.0)
    cy = (centre - tf.cast(first, tf.float32)) * zoom
    y0 = tf.cast(tf.round(cy - SNIPPET_HEIGHT / 2), tf.int32) + pad_y
    x0 = tf.cast(tf.round(tf.cast(xs, tf.float32) * zoom - SNIPPET_WIDTH / 2), tf.int32) + pad_x
    x0 = tf.clip_by_value(x0, 0, tf.shape(padded)[1] - SNIPPET_WIDTH)
    y0 = tf.clip_by_value(y0, 0, tf.shape(padded)[0] - SNIPPET_HEIGHT)
    rows = padded[y0:y0 + SNIPPET_HEIGHT]
    cols = x0[:, None] + tf.range(SNIPPET_WIDTH)[None, :]  # [n, W]
    return tf.transpose(tf.gather(rows, cols, axis=1), [1, 0, 2, 3])  # [n, H, W, 1]


STAFF_HOP_PX = 20  # snippet pixels between windows along a staff (half the staff height)
NO_STAFF_MESSAGE = "no staff found in the image (no ink)"
LINE_FILL = 0.5  # a staff-line row has ink over at least this share of the most inked row's


def staff_geometry(paper: tf.Tensor) -> tf.Tensor:
    """[top line row, bottom line row, first column, last column] (float32) of the one staff in an image [H, W, 1]
    (paper 1): the rows inked across most of the width are its lines, and its lines' extent its columns."""
    ink = tf.cast(paper[..., 0] < 0.5, tf.float32)
    profile = tf.reduce_sum(ink, axis=1)
    profile = image.check(profile, tf.reduce_max(profile) > 0, NO_STAFF_MESSAGE)
    lines = tf.cast(tf.where(profile >= LINE_FILL * tf.reduce_max(profile))[:, 0], tf.int32)
    top, bottom = lines[0], lines[-1]
    columns = tf.where(tf.reduce_mean(tf.gather(ink, lines), axis=0) > 0.5)[:, 0]  # where most lines run
    columns = tf.cond(tf.size(columns) > 0, lambda: columns, lambda: tf.constant([0], tf.int64))
    return tf.cast(tf.stack([tf.cast(top, tf.int64), tf.cast(bottom, tf.int64), columns[0], columns[-1]]),
                   tf.float32)


def staff_inputs(paper: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Network inputs [N, 80, 100, 1] of one staff image [H, W, 1] (paper 1) and each window's centre column [N].

    An image of exactly the snippet's size is one snippet; any other is one staff (a crop of a page, as
    :func:`zoo.preprocessing.pages.staff_crops` cuts them), windowed every :data:`STAFF_HOP_PX` snippet pixels along
    its lines. The library's search windows and the ``embed_sheet`` signature both call this.
    """
    shape = tf.shape(paper)

    def snippet() -> tuple[tf.Tensor, tf.Tensor]:
        return sheet_input(paper[None]), tf.constant([SNIPPET_WIDTH / 2], tf.float32)

    def staff() -> tuple[tf.Tensor, tf.Tensor]:
        top, bottom, left, right = tf.unstack(staff_geometry(paper))
        hop = STAFF_HOP_PX * tf.maximum(1.0, bottom - top) / STAFF_HEIGHT_PX
        xs = tf.range(left, right + 1.0, hop)
        return sheet_input(staff_windows(paper, top, bottom, xs)), xs

    is_snippet = tf.logical_and(tf.equal(shape[0], SNIPPET_HEIGHT), tf.equal(shape[1], SNIPPET_WIDTH))
    return tf.cond(is_snippet, snippet, staff)


def cut_snippets(page: np.ndarray, staff: tuple[float, float], xs: Sequence[float]) -> np.ndarray:
    """Snippets [len(xs), SNIPPET_HEIGHT, SNIPPET_WIDTH] (uint8, paper 255) of a grayscale uint8 page, as
    :func:`staff_windows` cuts them (what the pairs dataset stores as PNG)."""
    paper = staff_windows(page[..., None].astype(np.float32) / 255.0, staff[0], staff[1], np.asarray(xs, np.float32))
    return np.round(np.clip(paper.numpy()[..., 0], 0.0, 1.0) * 255).astype(np.uint8)


def recording_inputs(samples: tf.Tensor, rate: tf.Tensor | int) -> tuple[tf.Tensor, tf.Tensor]:
    """Log-mel inputs [N, 83, 128] of a whole recording's excerpts every :data:`EXCERPT_HOP_SECONDS`, and each one's
    centre in seconds [N] (a last, shorter excerpt is centred on what it holds). The library's search windows and
    the ``embed_audio`` signature both call this."""
    samples = tf.convert_to_tensor(samples, tf.float32)
    mels = audio.recording_log_mels(samples, rate, EXCERPT_SECONDS, EXCERPT_HOP_SECONDS)
    rate_f = tf.cast(rate, tf.float32)
    starts = tf.cast(audio.window_starts(tf.shape(samples)[0], rate, EXCERPT_SECONDS, EXCERPT_HOP_SECONDS),
                     tf.float32) / rate_f
    length = tf.cast(tf.shape(samples)[0], tf.float32) / rate_f
    return mels, tf.minimum(starts + EXCERPT_SECONDS / 2, (starts + length) / 2)
