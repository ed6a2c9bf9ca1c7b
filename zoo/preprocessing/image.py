"""Staff image preprocessing, shared by OMR training, TFX Transform and the serving signature.

PNG/JPEG bytes (any channels) → grayscale → height-normalized → inverted so that ink is 1
and paper is 0 (zero padding of variable-width batches is then blank paper).
"""
from __future__ import annotations

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
INK_DEPTH = 0.25  # ink: darker than the paper by this share of the way from the paper to the darkest pixel


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


def to_paper(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 pixels [H, W, 3] (or [H, W] grayscale) → [H, W, 1] float32 in [0, 1], exactly as :func:`decode_image`
    converts what it decodes: the library's numpy pages go through here, so they match what a server decodes."""
    pixels = tf.convert_to_tensor(pixels)
    if pixels.shape.rank == 2:
        pixels = tf.image.grayscale_to_rgb(pixels[..., None])
    return tf.image.rgb_to_grayscale(tf.image.convert_image_dtype(pixels, tf.float32))


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
    values = tf.sort(tf.reshape(image, [-1]))
    return values[tf.size(values) // 2]


def trim_margins(image: tf.Tensor) -> tf.Tensor:
    """Cut a paper-white [H, W, 1] image's loose margins, on all four sides, down to TRIM_MARGIN of paper.

    Height normalization puts the staff lines on the rows the recognizer learnt only if the crop is about as
    tight as its training staves': with white paper of 25 % of the staff's height above and below, the shipped
    weights misread 37 % of the tokens (docs/decisions/0004-loose-crops.md). Paper left and right misleads it as
    much: the training staves have about 3 % of the ink's height of paper there, and with half the staff's width
    of paper on each side nearly every staff gained a token (docs/decisions/0019-framing.md). Margins up to
    LOOSE_MARGIN of the ink's height above and below, and LOOSE_SIDE_MARGIN left and right, are left as they are,
    because the distorted training staves have them (cutting those down read the distorted validation staves
    worse). The paper level is the median pixel, so a
    blurred, lighter staff line still counts as ink; a row or column needs two ink pixels, so a speck of sensor
    noise does not hold a margin open.
    """
    paper = _median(image)
    ink = tf.cast(image[..., 0] < paper - INK_DEPTH * (paper - tf.reduce_min(image)), tf.int32)
    rows = tf.where(tf.reduce_sum(ink, 1) >= 2)[:, 0]
    cols = tf.where(tf.reduce_sum(ink, 0) >= 2)[:, 0]

    def crop() -> tf.Tensor:
        ink_height = tf.cast(rows[-1] - rows[0] + 1, tf.float32)
        keep = tf.cast(tf.round(TRIM_MARGIN * ink_height), tf.int64)

        def span(ink_at: tf.Tensor, size: tf.Tensor, loose_share: float) -> tuple[tf.Tensor, tf.Tensor]:
            loose = tf.cast(tf.round(loose_share * ink_height), tf.int64)
            first, last = ink_at[0], ink_at[-1]
            return (tf.where(first > loose, first - keep, 0),
                    tf.where(size - 1 - last > loose, last + keep + 1, size))

        shape = tf.shape(image, out_type=tf.int64)
        top, bottom = span(rows, shape[0], LOOSE_MARGIN)
        left, right = span(cols, shape[1], LOOSE_SIDE_MARGIN)
        return image[top:bottom, left:right]

    return tf.cond((tf.size(rows) > 0) & (tf.size(cols) > 0), crop, lambda: image)


def normalize(image: tf.Tensor, height: int = HEIGHT) -> tf.Tensor:
    """[H, W, 1] paper-white image → loose margins trimmed → [height, W', 1] ink-white, W' = W·height/H."""
    image = tf.convert_to_tensor(image, tf.float32)
    contrast = tf.reduce_max(image) - tf.reduce_min(image)
    image = trim_margins(check(image, contrast >= MIN_CONTRAST, "image is blank (no ink found)"))
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    width = tf.maximum(1, tf.cast(tf.round(shape[1] * height / shape[0]), tf.int32))
    width = check(width, width <= MAX_WIDTH,
                   tf.strings.format("staff is {} px wide at height " f"{height}; at most {MAX_WIDTH} px — "
                                     "split pages into staves first", width))
    resized = tf.image.resize(image, [height, width], method="area", antialias=True)
    return 1.0 - tf.clip_by_value(resized, 0.0, 1.0)


def png_to_staff(image_bytes: tf.Tensor, height: int = HEIGHT) -> tf.Tensor:
    """Bytes → normalized staff tensor [height, W', 1]: the one function training and serving call."""
    return normalize(decode_image(image_bytes), height)


def add_margins(image: tf.Tensor, top: float | tf.Tensor, bottom: float | tf.Tensor | None = None) -> tf.Tensor:
    """A paper-white [H, W, 1] image with ``top``·H rows of white paper added above and ``bottom``·H (default:
    ``top``) below: a staff cropped loosely from a page, to measure what :func:`trim_margins` is for and to train
    the recognizer on such crops."""
    height = tf.cast(tf.shape(image)[0], tf.float32)

    def rows(fraction: float | tf.Tensor) -> tf.Tensor:
        return tf.cast(tf.round(height * tf.cast(fraction, tf.float32)), tf.int32)

    return tf.pad(image, [[rows(top), rows(top if bottom is None else bottom)], [0, 0], [0, 0]],
                  constant_values=1.0)


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


def rescale_width(staff: tf.Tensor, factor: float | tf.Tensor) -> tf.Tensor:
    """A normalized staff [H, W, 1] → [H, round(W·factor), 1] (at most MAX_WIDTH), height kept.

    Engravers and editions space notes differently; training on one engraver's spacing alone leaves a
    recognizer that misreads the same symbols set tighter or looser, so training stretches staves with this.
    """
    shape = tf.shape(staff)
    width = tf.cast(tf.round(tf.cast(shape[1], tf.float32) * tf.cast(factor, tf.float32)), tf.int32)
    width = tf.clip_by_value(width, 1, MAX_WIDTH)
    return tf.clip_by_value(tf.image.resize(staff, tf.stack([shape[0], width]), antialias=True), 0.0, 1.0)
