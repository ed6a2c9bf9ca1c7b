"""Staff image preprocessing, shared by OMR training, TFX Transform and the serving signature.

PNG/JPEG bytes (any channels) → grayscale → height-normalized → inverted so that ink is 1
and paper is 0 (zero padding of variable-width batches is then blank paper).
"""
from __future__ import annotations

import tensorflow as tf

HEIGHT = 64  # every staff is resized to this height, keeping its aspect ratio
MIN_SIDE = 16  # px; a smaller input cannot hold a staff
MAX_INPUT_PIXELS = 40_000_000  # decoded input size cap (e.g. 8000 x 5000)
MAX_WIDTH = 4096  # normalized width cap (≈ a 40-measure staff); wider inputs are rejected, not squeezed
MIN_CONTRAST = 0.05  # a blank image (no ink) has less spread than this between paper and darkest pixel


def _check(x: tf.Tensor, ok: tf.Tensor, message: str | tf.Tensor) -> tf.Tensor:
    with tf.control_dependencies([tf.debugging.Assert(ok, [message], summarize=1)]):
        return tf.identity(x)


def decode_image(image_bytes: tf.Tensor) -> tf.Tensor:
    """PNG/JPEG/GIF/BMP bytes → [H, W, 1] float32 in [0, 1] (1 = white paper); colour is converted."""
    data = tf.convert_to_tensor(image_bytes, tf.string)
    data = _check(data, tf.strings.length(data) > 0, "image bytes are empty")
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.image.rgb_to_grayscale(tf.image.convert_image_dtype(image, tf.float32))
    shape = tf.shape(image)
    image = _check(image, tf.reduce_min(shape[:2]) >= MIN_SIDE,
                   tf.strings.format("image is {}x{} px; at least " f"{MIN_SIDE}x{MIN_SIDE} is needed",
                                     (shape[1], shape[0])))
    return _check(image, shape[0] * shape[1] <= MAX_INPUT_PIXELS,
                  tf.strings.format("image is {}x{} px; at most " f"{MAX_INPUT_PIXELS:,} pixels are accepted",
                                    (shape[1], shape[0])))


def normalize(image: tf.Tensor, height: int = HEIGHT) -> tf.Tensor:
    """[H, W, 1] paper-white image → [height, W', 1] ink-white, W' = W·height/H (aspect kept)."""
    image = tf.convert_to_tensor(image, tf.float32)
    contrast = tf.reduce_max(image) - tf.reduce_min(image)
    image = _check(image, contrast >= MIN_CONTRAST, "image is blank (no ink found)")
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    width = tf.maximum(1, tf.cast(tf.round(shape[1] * height / shape[0]), tf.int32))
    width = _check(width, width <= MAX_WIDTH,
                   tf.strings.format("staff is {} px wide at height " f"{height}; at most {MAX_WIDTH} px — "
                                     "split pages into staves first", width))
    resized = tf.image.resize(image, [height, width], method="area", antialias=True)
    return 1.0 - tf.clip_by_value(resized, 0.0, 1.0)


def png_to_staff(image_bytes: tf.Tensor, height: int = HEIGHT) -> tf.Tensor:
    """Bytes → normalized staff tensor [height, W', 1]: the one function training and serving call."""
    return normalize(decode_image(image_bytes), height)


def rescale_width(staff: tf.Tensor, factor: float | tf.Tensor) -> tf.Tensor:
    """A normalized staff [H, W, 1] → [H, round(W·factor), 1] (at most MAX_WIDTH), height kept.

    Engravers and editions space notes differently; training on one engraver's spacing alone leaves a
    recognizer that misreads the same symbols set tighter or looser, so training stretches staves with this.
    """
    shape = tf.shape(staff)
    width = tf.cast(tf.round(tf.cast(shape[1], tf.float32) * tf.cast(factor, tf.float32)), tf.int32)
    width = tf.clip_by_value(width, 1, MAX_WIDTH)
    return tf.clip_by_value(tf.image.resize(staff, tf.stack([shape[0], width]), antialias=True), 0.0, 1.0)
