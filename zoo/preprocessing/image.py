"""Staff image preprocessing, shared by OMR training, TFX Transform and the serving signature.

PNG/JPEG bytes (any channels) → grayscale → height-normalized → inverted so that ink is 1
and paper is 0 (zero padding of variable-width batches is then blank paper).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from zoo.preprocessing.header_bytes import substr, uint

HEIGHT = 64  # every staff is resized to this height, keeping its aspect ratio
MIN_SIDE = 16  # px; a smaller input cannot hold a staff
MAX_INPUT_PIXELS = 40_000_000  # decoded input size cap (e.g. 8000 x 5000)
MAX_WIDTH = 4096  # normalized width cap (≈ a 40-measure staff); wider inputs are rejected, not squeezed
MIN_CONTRAST = 0.05  # a blank image (no ink) has less spread than this between paper and darkest pixel
TRIM_MARGIN = 0.03  # paper kept above and below the ink, as a share of its height: the engraved staves' own
LOOSE_MARGIN = 0.25  # a margin above or below wider than this share of the ink's height is cut down to TRIM_MARGIN
LOOSE_SIDE_MARGIN = 0.2  # the same left and right (where the distorted staves have up to about 0.15)
MEDIAN_BINS = 256  # histogram bins of the exact median (:func:`_median`)
INK_DEPTH = 0.25  # ink: darker than the paper by this share of the way from the paper to the darkest pixel
STAFF_LINES = 5
LINE_FILL = 0.5  # a staff-line row has ink over at least this share of the ink's width
LINE_EVENNESS = 0.25  # the gaps between the five lines differ from their mean by at most this share
# Ink joined to ink within these staff spaces of the top and bottom lines is the music's own: above reaches a
# fermata over a ledger-line note, below stops short of lyrics (docs/decisions/0026-staff-ink.md)
NOTE_REACH_ABOVE = 3.0
NOTE_REACH_BELOW = 0.5
TEXT_COVER = 0.25  # other ink is cleared from a side only where it spans this share of the staff's width (text)
# A phone photo of a page is tilted up to about ±5°: tilts within MAX_SKEW are measured in SKEW_STEP steps, and a
# staff tilted by MIN_SKEW or more is turned level (docs/decisions/0027-levelling.md)
MAX_SKEW = 6.0  # degrees
SKEW_STEP = 0.2  # degrees
MIN_SKEW = 2.0  # degrees
SKEW_POINTS = 8_000  # ink pixels sampled (evenly) to measure the tilt, so a large image costs what a staff does
# Paper whose brightness varies by LIGHT_RANGE or more is evened out (a phone photo's light falls off to one side):
# its brightness is the brightest value within LIGHT_CELLS cells of 1/LIGHT_GRID of the image's height
LIGHT_RANGE = 0.1
LIGHT_GRID = 16
LIGHT_CELLS = 5


# Every condition and loop here is written as a TensorFlow op, so AutoGraph has nothing to rewrite: skipping its
# conversion saves about two seconds each time a dataset or signature traces these functions
_plain = tf.autograph.experimental.do_not_convert


def check(x: tf.Tensor, ok: tf.Tensor, message: str | tf.Tensor) -> tf.Tensor:
    with tf.control_dependencies([tf.debugging.Assert(ok, [message], summarize=1)]):
        return tf.identity(x)


SMALL_MESSAGE = "image is {}x{} px; " f"at least {MIN_SIDE}x{MIN_SIDE} is needed"
LARGE_MESSAGE = "image is {}x{} px; " f"at most {MAX_INPUT_PIXELS:,} pixels are accepted"
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"BM")  # PNG, JPEG, BMP: the formats decoded here


def _signed32(x: tf.Tensor) -> tf.Tensor:
    return tf.where(x >= 2 ** 31, x - 2 ** 32, x)


def header_size(data: tf.Tensor) -> tf.Tensor:
    """[width, height] (int64) as a PNG, JPEG or BMP header states it, before anything is decoded.

    A 441 KB PNG can claim 20,000 × 20,000 pixels, which decoding would allocate; the decoders never exceed the
    size their header gives, so checking it first bounds what an image costs. Other formats fail here.
    """
    kind = tf.argmax(tf.stack([tf.strings.substr(substr(data, 0, len(m)), 0, len(m)) == m for m in _SIGNATURES]
                              + [tf.constant(True)]), output_type=tf.int32)
    kind = check(kind, kind < len(_SIGNATURES), "not a PNG, JPEG or BMP image (unrecognised header bytes)")

    def png() -> tf.Tensor:  # IHDR follows the signature: width and height, big-endian
        return tf.stack([uint(data, 16, 4, True), uint(data, 20, 4, True)])

    def jpeg() -> tf.Tensor:  # the frame header's size, found by the JPEG library without decoding
        shape = tf.io.extract_jpeg_shape(data, output_type=tf.int32)
        return tf.cast(tf.stack([shape[1], shape[0]]), tf.int64)

    def bmp() -> tf.Tensor:  # BITMAPINFOHEADER: signed little-endian; a negative height means top-down rows
        return tf.abs(_signed32(tf.stack([uint(data, 18, 4, False), uint(data, 22, 4, False)])))

    return tf.switch_case(kind, [png, jpeg, bmp])


@_plain
def to_paper(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 pixels [H, W, 3] (or [H, W] grayscale) → [H, W, 1] float32 in [0, 1], exactly as :func:`decode_image`
    converts what it decodes: the library's numpy pages go through here, so they match what a server decodes."""
    pixels = tf.convert_to_tensor(pixels)
    if pixels.shape.rank == 2:
        pixels = tf.image.grayscale_to_rgb(pixels[..., None])
    return tf.image.rgb_to_grayscale(tf.image.convert_image_dtype(pixels, tf.float32))


@_plain
def decode_image(image_bytes: tf.Tensor) -> tf.Tensor:
    """PNG/JPEG/BMP bytes → [H, W, 1] float32 in [0, 1] (1 = white paper); colour is converted.

    The size the header states is checked before decoding (:func:`header_size`), so an image over
    :data:`MAX_INPUT_PIXELS` costs nothing but its bytes.
    """
    data = tf.convert_to_tensor(image_bytes, tf.string)
    data = check(data, tf.strings.length(data) > 0, "image bytes are empty")
    size = header_size(data)
    data = check(data, tf.reduce_min(size) >= MIN_SIDE, tf.strings.format(SMALL_MESSAGE, (size[0], size[1])))
    data = check(data, size[0] * size[1] <= MAX_INPUT_PIXELS,
                  tf.strings.format(LARGE_MESSAGE, (size[0], size[1])))
    image = to_paper(tf.io.decode_image(data, channels=3, expand_animations=False))
    shape = tf.shape(image)  # the decoded size, in case a header lied
    image = check(image, tf.reduce_min(shape[:2]) >= MIN_SIDE, tf.strings.format(SMALL_MESSAGE, (shape[1], shape[0])))
    return check(image, shape[0] * shape[1] <= MAX_INPUT_PIXELS,
                  tf.strings.format(LARGE_MESSAGE, (shape[1], shape[0])))


def _median(image: tf.Tensor) -> tf.Tensor:
    """The value at rank size // 2 of the image's pixels in ascending order, exactly as a full sort gives it.

    The pixels are counted into MEDIAN_BINS bins between the darkest and the lightest (monotonic, so every pixel
    of a lower bin ranks lower), and only the bin holding that rank is sorted; on a scan, where most of the
    paper is one value, nothing is. A full sort cost about half of a staff's preprocessing."""
    values = tf.reshape(image, [-1])
    rank = tf.size(values) // 2
    low, high = tf.reduce_min(values), tf.reduce_max(values)
    scale = MEDIAN_BINS / tf.maximum(high - low, 1e-30)
    bins = tf.clip_by_value(tf.cast(tf.floor((values - low) * scale), tf.int32), 0, MEDIAN_BINS - 1)
    upto = tf.cumsum(tf.math.bincount(bins, minlength=MEDIAN_BINS, maxlength=MEDIAN_BINS))
    median_bin = tf.argmax(tf.cast(upto > rank, tf.int32), output_type=tf.int32)
    inside = tf.boolean_mask(values, tf.equal(bins, median_bin))
    at = rank - (upto[median_bin] - tf.size(inside))
    return tf.cond(tf.reduce_min(inside) == tf.reduce_max(inside), lambda: inside[0],
                   lambda: tf.sort(inside)[at])


def _ink(image: tf.Tensor, paper: tf.Tensor | None = None) -> tf.Tensor:
    """[H, W] int32, 1 where a paper-white [H, W, 1] image has ink. The paper level is the median pixel (pass it
    if known: finding it is a pass over every pixel), so a blurred, lighter staff line still counts as ink."""
    paper = _median(image) if paper is None else paper
    return tf.cast(image[..., 0] < paper - INK_DEPTH * (paper - tf.reduce_min(image)), tf.int32)


def _runs(flags: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """First and last index of each run of True in a 1-D bool tensor."""
    f = tf.cast(flags, tf.int32)
    before = tf.pad(f[:-1], [[1, 0]])
    after = tf.pad(f[1:], [[0, 1]])
    return tf.where((f == 1) & (before == 0))[:, 0], tf.where((f == 1) & (after == 0))[:, 0]


def staff_lines(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(found, first rows, last rows) of the five lines of the one staff in a paper-white [H, W, 1] image: runs of
    rows with ink across LINE_FILL of the ink's width, five of them, evenly spaced. Not found when the image is
    tilted (a line then spreads over rows that are each short of the fill) or holds no staff or several."""
    return _lines_of(_ink(image))


def _lines_of(ink: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    cols = tf.where(tf.reduce_sum(ink, 0) >= 2)[:, 0]
    none = (tf.constant(False), tf.zeros([STAFF_LINES], tf.int64), tf.zeros([STAFF_LINES], tf.int64))

    def lines() -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        width = tf.cast(cols[-1] - cols[0] + 1, tf.float32)
        starts, ends = _runs(tf.cast(tf.reduce_sum(ink, 1), tf.float32) >= LINE_FILL * width)

        def even() -> tf.Tensor:
            centres = tf.cast(starts + ends, tf.float32) / 2.0
            gaps = centres[1:] - centres[:-1]
            mean = tf.reduce_mean(gaps)
            return (mean >= 3.0) & (tf.reduce_max(tf.abs(gaps - mean)) <= LINE_EVENNESS * mean)

        found = tf.cond(tf.size(starts) == STAFF_LINES, even, lambda: tf.constant(False))
        return tf.cond(found, lambda: (found, starts, ends), lambda: none)

    return tf.cond(tf.size(cols) > 0, lines, lambda: none)


def _staff_ink(ink: tf.Tensor, starts: tf.Tensor, ends: tf.Tensor) -> tf.Tensor:
    """[H, W] bool: the ink that belongs to the staff whose lines run over rows ``starts``…``ends``.

    The music's ink is what is joined, pixel to pixel, to ink from NOTE_REACH_ABOVE staff spaces above the top
    line to NOTE_REACH_BELOW below the bottom one: stems, beams and ledger lines join a note far above or below
    to it. Lyrics, dynamics, tempo and expression text lie beyond and touch none of it. Such stray ink is left
    out of a side only where it spans TEXT_COVER of the staff's width, as a line of text does, so an unlettered
    staff keeps every mark. What lies before the lines begin (a part name) or after they end is left out too, up
    to an empty column, so that a slightly tilted line's end stays.
    """
    shape = tf.shape(ink, out_type=tf.int64)
    space = tf.cast(ends[-1] + starts[-1] - ends[0] - starts[0], tf.float32) / (2.0 * (STAFF_LINES - 1))
    # where the lines run: ink on four of the five lines (each widened by a quarter space, for a slight tilt)
    pad = tf.cast(space / 4.0, tf.int64)
    summed = tf.pad(tf.cumsum(ink, 0), [[1, 0], [0, 0]])
    on_line = (tf.gather(summed, tf.minimum(ends + pad + 1, shape[0]))
               - tf.gather(summed, tf.maximum(starts - pad, 0)))
    line_cols = tf.where(tf.reduce_sum(tf.cast(on_line > 0, tf.int32), 0) >= STAFF_LINES - 1)[:, 0]
    line_cols = tf.cond(tf.size(line_cols) > 0, lambda: line_cols, lambda: tf.stack([0, shape[1] - 1]))
    empty_cols = tf.where(tf.reduce_sum(ink, 0) == 0)[:, 0]
    before = tf.boolean_mask(empty_cols, empty_cols < line_cols[0])
    after = tf.boolean_mask(empty_cols, empty_cols > line_cols[-1])
    left = tf.cond(tf.size(before) > 0, lambda: tf.reduce_max(before) + 1, lambda: tf.constant(0, tf.int64))
    right = tf.cond(tf.size(after) > 0, lambda: tf.reduce_min(after), lambda: shape[1])

    above = tf.cast(tf.round(NOTE_REACH_ABOVE * space), tf.int64)
    below = tf.cast(tf.round(NOTE_REACH_BELOW * space), tf.int64)
    rows, cols = tf.range(shape[0]), tf.range(shape[1])
    within_cols = ((cols >= left) & (cols < right))[None, :]
    ink = (ink > 0) & within_cols
    near = ((rows >= starts[0] - above) & (rows <= ends[-1] + below))[:, None]
    width = tf.cast(tf.maximum(right - left, 1), tf.float32)

    def cover(mask: tf.Tensor) -> tf.Tensor:  # the share of the staff's width that ink above, and below, spans
        return tf.stack([tf.reduce_sum(tf.cast(tf.reduce_any(m, 0), tf.float32)) / width
                         for m in (mask[:starts[0]], mask[ends[-1] + 1:])])

    def cleared() -> tf.Tensor:
        kept = _joined(near & ink, ink)
        # a side is cleared only of a line of text: stray ink across TEXT_COVER of the staff's width; a
        # ledger-line whole note or a tie below an unlettered staff stays
        above_kept, below_kept = tf.unstack(cover(ink & ~kept) < TEXT_COVER)
        return kept | (ink & tf.where(rows < starts[0], above_kept, below_kept)[:, None])

    # all the ink beyond the reach spans less than that on both sides (an unlettered staff): nothing to clear
    return tf.cond(tf.reduce_any(cover(ink & ~near) >= TEXT_COVER), cleared, lambda: ink)


def _dilate(mask: tf.Tensor) -> tf.Tensor:
    """[H, W] bool grown by one pixel in every direction (8-connected)."""
    return tf.nn.max_pool2d(tf.cast(mask, tf.float32)[None, ..., None], 3, 1, "SAME")[0, ..., 0] > 0


def _joined(seed: tf.Tensor, ink: tf.Tensor) -> tf.Tensor:
    """The ink (bool [H, W]) joined pixel to pixel to ``seed``: a morphological reconstruction."""
    def grow(kept: tf.Tensor, last: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        grown = kept
        for _ in range(4):  # four pixels between convergence checks
            grown = _dilate(grown) & ink
        return grown, kept

    return tf.while_loop(lambda kept, last: tf.reduce_any(kept != last), grow,
                         (seed, tf.zeros_like(seed)))[0]


def skew(ink: tf.Tensor) -> tf.Tensor:
    """The tilt (radians, float32) of a staff's rows in an [H, W] ink mask: the angle within ±MAX_SKEW whose
    sheared row profile is sharpest (the largest sum of squared row counts, a projection-profile measure). Five
    long lines dominate that sum, so lyrics, notes and text do not pull it. Positive: rows fall to the right."""
    angles = tf.constant(np.radians(np.arange(-MAX_SKEW, MAX_SKEW + SKEW_STEP / 2, SKEW_STEP)), tf.float32)
    points = tf.cast(tf.where(ink > 0), tf.float32)
    points = points[::tf.maximum(1, tf.shape(points)[0] // SKEW_POINTS)]

    def measure() -> tf.Tensor:
        cols = points[:, 1] - tf.reduce_mean(points[:, 1])
        rows = tf.cast(tf.round(points[None, :, 0] - cols[None, :] * tf.tan(angles)[:, None]), tf.int32)
        counts = tf.cast(tf.math.bincount(rows - tf.reduce_min(rows), axis=-1), tf.float32)
        return tf.gather(angles, tf.argmax(tf.reduce_sum(tf.square(counts), 1)))

    return tf.cond(tf.shape(points)[0] > 0, measure, lambda: tf.constant(0.0))


def even_light(image: tf.Tensor) -> tf.Tensor:
    """A paper-white [H, W, 1] image divided by its paper's brightness where that varies by LIGHT_RANGE or more (a
    photo lit from one side): the paper is the brightest value around each pixel (a max over LIGHT_CELLS cells of
    1/LIGHT_GRID of the height, wider than any glyph), smoothed. Darkened paper is otherwise taken for ink, and
    the margins around a staff are kept. Evenly lit paper, as every scan and engraving has, is left exactly."""
    size = tf.shape(image)[:2]
    cell = tf.maximum(1, size[0] // LIGHT_GRID)
    coarse = tf.raw_ops.MaxPoolV2(input=image[None], ksize=tf.stack([1, cell, cell, 1]),
                                  strides=tf.stack([1, cell, cell, 1]), padding="SAME")
    coarse = tf.nn.max_pool2d(coarse, LIGHT_CELLS, 1, "SAME")
    coarse = tf.nn.avg_pool2d(coarse, LIGHT_CELLS, 1, "SAME")
    brightest, dimmest = tf.reduce_max(coarse), tf.reduce_min(coarse)

    def even() -> tf.Tensor:
        paper = tf.image.resize(coarse, size, method="bilinear")[0]
        return tf.clip_by_value(image / tf.maximum(paper, 1e-3) * brightest, 0.0, 1.0)

    return tf.cond(dimmest < (1.0 - LIGHT_RANGE) * brightest, even, lambda: image)


def warp(image: tf.Tensor, params: tf.Tensor, size: tf.Tensor, fill: float | tf.Tensor) -> tf.Tensor:
    """A [H, W, 1] image through a projective transform (``params``: the 8 output → input parameters of
    ``ImageProjectiveTransformV3``) onto a ``size`` [2] canvas, bilinear, pixels from outside the image ``fill``."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=params[None], output_shape=size, fill_value=fill,
        interpolation="BILINEAR", fill_mode="CONSTANT")[0]


def level(image: tf.Tensor, paper: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """(image, paper level): a paper-white [H, W, 1] staff tilted by MIN_SKEW or more (:func:`skew`) turned level
    and cut to its ink; a straighter one is returned as it is. The staff finder and the margin rules need level
    lines, and the recognizer read the camera-distorted training staves, tilted up to ±2°, but not a phone
    photo's ±5°. A staff whose five lines are found is level already (a line tilted by 0.2° over a staff's width
    spreads over rows each short of LINE_FILL), so it costs no tilt measurement."""
    paper = _median(image) if paper is None else paper
    ink = _ink(image, paper)
    angle = tf.cond(_lines_of(ink)[0], lambda: tf.constant(0.0), lambda: skew(ink))

    def rotate() -> tuple[tf.Tensor, tf.Tensor]:
        size = tf.cast(tf.shape(image)[:2], tf.float32)
        cos, sin = tf.cos(angle), tf.sin(angle)
        out = tf.cast(tf.math.ceil(tf.stack([size[0] * cos + size[1] * tf.abs(sin),
                                             size[1] * cos + size[0] * tf.abs(sin)])), tf.int32)
        centre, out_centre = (size - 1.0) / 2.0, (tf.cast(out, tf.float32) - 1.0) / 2.0
        # output (x', y') → input (x, y): a rotation by the tilt about the two centres, on a canvas that keeps
        # every corner
        params = tf.stack([cos, -sin, centre[1] - cos * out_centre[1] + sin * out_centre[0],
                           sin, cos, centre[0] - sin * out_centre[1] - cos * out_centre[0], 0.0, 0.0])
        turned = warp(image, params, out, paper)
        # the canvas's new corners hold the photo's own paper, turned: not a margin the recognizer was trained on
        turned = trim_margins(turned, paper, loose=0.0, loose_side=0.0)
        return turned, _median(turned)

    return tf.cond(tf.abs(angle) >= np.radians(MIN_SKEW), rotate, lambda: (image, paper))


def clear_outside_staff(image: tf.Tensor, paper: tf.Tensor | None = None) -> tf.Tensor:
    """A paper-white [H, W, 1] image with the ink that is not the staff's own (:func:`_staff_ink`) painted paper,
    so that :func:`trim_margins` frames the staff and not the lyrics and text printed around it
    (docs/decisions/0026-staff-ink.md). An image whose staff lines are not found is left as it is. Painting
    paper keeps the median pixel, so the paper level passed on to :func:`trim_margins` stays exact."""
    paper = _median(image) if paper is None else paper
    ink = _ink(image, paper)
    found, starts, ends = _lines_of(ink)

    def clear() -> tf.Tensor:
        kept = _staff_ink(ink, starts, ends)
        halo = _dilate((ink > 0) & ~kept)  # the stray ink with its antialiased edge
        return tf.where((halo & ~kept)[..., None], paper, image)

    return tf.cond(found, clear, lambda: image)


def trim_margins(image: tf.Tensor, paper: tf.Tensor | None = None, loose: float = LOOSE_MARGIN,
                 loose_side: float = LOOSE_SIDE_MARGIN) -> tf.Tensor:
    """Cut a paper-white [H, W, 1] image's loose margins, on all four sides, down to TRIM_MARGIN of paper.

    Height normalization puts the staff lines on the rows the recognizer learnt only if the crop is about as
    tight as its training staves': with white paper of 25 % of the staff's height above and below, the shipped
    weights misread 37 % of the tokens (docs/decisions/0004-loose-crops.md). Paper left and right misleads it as
    much: the training staves have about 3 % of the ink's height of paper there, and with half the staff's width
    of paper on each side nearly every staff gained a token (docs/decisions/0019-framing.md). Margins up to
    ``loose`` (LOOSE_MARGIN) of the ink's height above and below, and ``loose_side`` (LOOSE_SIDE_MARGIN) left and
    right, are left as they are, because the distorted training staves have them (cutting those down read the
    distorted validation staves worse). A row or column needs two ink pixels, so a speck of sensor noise does not
    hold a margin open.
    """
    ink = _ink(image, paper)
    rows = tf.where(tf.reduce_sum(ink, 1) >= 2)[:, 0]
    cols = tf.where(tf.reduce_sum(ink, 0) >= 2)[:, 0]

    def crop() -> tf.Tensor:
        ink_height = tf.cast(rows[-1] - rows[0] + 1, tf.float32)
        keep = tf.cast(tf.round(TRIM_MARGIN * ink_height), tf.int64)

        def span(ink_at: tf.Tensor, size: tf.Tensor, loose_share: float) -> tuple[tf.Tensor, tf.Tensor]:
            limit = tf.cast(tf.round(loose_share * ink_height), tf.int64)
            first, last = ink_at[0], ink_at[-1]
            return (tf.where(first > limit, tf.maximum(first - keep, 0), 0),
                    tf.where(size - 1 - last > limit, tf.minimum(last + keep + 1, size), size))

        shape = tf.shape(image, out_type=tf.int64)
        top, bottom = span(rows, shape[0], loose)
        left, right = span(cols, shape[1], loose_side)
        return image[top:bottom, left:right]

    return tf.cond((tf.size(rows) > 0) & (tf.size(cols) > 0), crop, lambda: image)


@_plain
def normalize(image: tf.Tensor, height: int = HEIGHT) -> tf.Tensor:
    """[H, W, 1] paper-white image → light evened out → turned level → what lies outside the staff cleared → loose
    margins trimmed → [height, W', 1] ink-white, W' = W·height/H."""
    image = tf.convert_to_tensor(image, tf.float32)
    contrast = tf.reduce_max(image) - tf.reduce_min(image)
    image = check(image, contrast >= MIN_CONTRAST, "image is blank (no ink found)")
    image, paper = level(even_light(image))
    image = trim_margins(clear_outside_staff(image, paper), paper)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    width = tf.maximum(1, tf.cast(tf.round(shape[1] * height / shape[0]), tf.int32))
    width = check(width, width <= MAX_WIDTH,
                   tf.strings.format("staff is {} px wide at height " f"{height}; at most {MAX_WIDTH} px — "
                                     "split pages into staves first", width))
    resized = tf.image.resize(image, [height, width], method="area", antialias=True)
    return 1.0 - tf.clip_by_value(resized, 0.0, 1.0)


@_plain
def png_to_staff(image_bytes: tf.Tensor, height: int = HEIGHT) -> tf.Tensor:
    """Bytes → normalized staff tensor [height, W', 1]: the one function training and serving call."""
    return normalize(decode_image(image_bytes), height)


@functools.lru_cache(maxsize=8)
def staff_reader(height: int = HEIGHT) -> Callable[[tf.Tensor], tf.Tensor]:
    """:func:`png_to_staff` compiled once per height, for callers that read one image at a time (the library):
    run op by op, the conditions and loops of :func:`normalize` cost three times its compiled run."""
    return tf.function(lambda data: png_to_staff(data, height), input_signature=[tf.TensorSpec([], tf.string)])


@_plain
def add_margins(image: tf.Tensor, top: float | tf.Tensor, bottom: float | tf.Tensor | None = None) -> tf.Tensor:
    """A paper-white [H, W, 1] image with ``top``·H rows of white paper added above and ``bottom``·H (default:
    ``top``) below: a staff cropped loosely from a page, to measure what :func:`trim_margins` is for and to train
    the recognizer on such crops."""
    height = tf.cast(tf.shape(image)[0], tf.float32)

    def rows(fraction: float | tf.Tensor) -> tf.Tensor:
        return tf.cast(tf.round(height * tf.cast(fraction, tf.float32)), tf.int32)

    return tf.pad(image, [[rows(top), rows(top if bottom is None else bottom)], [0, 0], [0, 0]],
                  constant_values=1.0)


@_plain
def embolden(image: tf.Tensor, rows: int | tf.Tensor, cols: int | tf.Tensor = 0) -> tf.Tensor:
    """A paper-white [H, W, 1] image with its ink grown by ``rows`` pixels downwards and ``cols`` to the right
    (a grey erosion of the paper). Verovio draws staff lines 1 px thick at the staff builds' resolution; other
    engravings and scans draw them bolder (PrIMuS' own: about twice, relative to the staff space), and a
    recognizer that has seen one line weight misreads the others, so training thickens a share of the ink."""

    def grow(x: tf.Tensor, steps: int | tf.Tensor, axis: int) -> tf.Tensor:
        def step(i: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            pad = [[1, 0], [0, 0], [0, 0]] if axis == 0 else [[0, 0], [1, 0], [0, 0]]
            shifted = tf.pad(y, pad, constant_values=1.0)
            shifted = shifted[:-1] if axis == 0 else shifted[:, :-1]
            return i + 1, tf.minimum(y, shifted)

        return tf.while_loop(lambda i, _: i < steps, step, (tf.constant(0), x))[1]

    return grow(grow(image, rows, 0), cols, 1)


@_plain
def rescale_width(staff: tf.Tensor, factor: float | tf.Tensor) -> tf.Tensor:
    """A normalized staff [H, W, 1] → [H, round(W·factor), 1] (at most MAX_WIDTH), height kept.

    Engravers and editions space notes differently; training on one engraver's spacing alone leaves a
    recognizer that misreads the same symbols set tighter or looser, so training stretches staves with this.
    """
    shape = tf.shape(staff)
    width = tf.cast(tf.round(tf.cast(shape[1], tf.float32) * tf.cast(factor, tf.float32)), tf.int32)
    width = tf.clip_by_value(width, 1, MAX_WIDTH)
    return tf.clip_by_value(tf.image.resize(staff, tf.stack([shape[0], width]), antialias=True), 0.0, 1.0)
