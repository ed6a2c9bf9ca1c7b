"""Camera-PrIMuS-style distortions (Calvo-Zaragoza & Rizo 2018) as pure, stateless TensorFlow.

Clean engraved staves are distorted to look like phone photographs: a small rotation and a perspective warp (one
projective transform, white fill), Gaussian blur, contrast/brightness changes, sensor noise and JPEG compression,
applied in that order to mimic the camera pipeline (optics -> lighting -> sensor -> encoder).

Everything is graph-compatible and works on a single grayscale float32 image in [0, 1] of shape [H, W, 1] with
unknown H and W, so the same code serves as a ``tf.data`` augmentation and as the generator of a fixed, distorted
copy of a test split.  Randomness comes only from stateless ops driven by an explicit seed of shape [2]; each
distortion gets its own sub-seed, so the output is a pure function of (image, seed, config) and switching one
distortion off does not change the random draws of the others.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from zoo.preprocessing import image as staff_image

_WHITE = 1.0  # background of engraved scores; fill value for pixels moved in from outside the image
_STEPS = ("geometry", "blur", "contrast", "brightness", "noise", "jpeg")
_CAMERA_STEPS = ("rotation", "perspective", "blur", "contrast", "brightness", "noise", "jpeg")
_PAGE_STEPS = ("texture", "lighting")  # seeded apart from _STEPS, so adding them moved no other draw
_PAGE_SEED = 0x9A9E  # folded into an image's seed for _PAGE_STEPS


@dataclass(frozen=True)
class DistortionConfig:
    """Ranges and probabilities of each distortion.

    The defaults are gentle (the staff must stay readable) and apply every distortion with probability < 1, which
    suits training augmentation.  ``camera()`` always applies all of them, like the Camera-PrIMuS corpus, and
    ``none()`` is the identity.  Each ``*_prob`` is the chance that the distortion is applied to an image; when it
    is, its magnitude is drawn uniformly from the given range.  ``strength`` scales all magnitudes linearly
    (0 = no change, 1 = the ranges as written); contrast and JPEG quality are scaled by their distance from the
    neutral values 1.0 and 100.
    """

    rotation_prob: float = 0.7
    max_rotation_deg: float = 2.0  # uniform in [-max, max], about the image centre
    perspective_prob: float = 0.7
    max_corner_shift: float = 0.04  # each corner moves up to this fraction of the image height, per axis
    blur_prob: float = 0.6
    blur_sigma: tuple[float, float] = (0.4, 1.2)  # Gaussian blur sigma in pixels
    contrast_prob: float = 0.7
    contrast: tuple[float, float] = (0.6, 1.2)  # factor applied around the image mean
    brightness_prob: float = 0.7
    max_brightness_delta: float = 0.15  # additive, uniform in [-max, max]
    noise_prob: float = 0.6
    noise_std: tuple[float, float] = (0.01, 0.05)  # std of additive Gaussian noise
    jpeg_prob: float = 0.6
    jpeg_quality: tuple[int, int] = (30, 90)  # inclusive range
    # a phone photo of a page (off unless asked for, so the default and camera() draw what they always drew):
    lighting_prob: float = 0.0
    max_lighting_drop: float = 0.35  # the darkest part of the page gets up to this much less light than the brightest
    texture_prob: float = 0.0
    texture_std: tuple[float, float] = (0.01, 0.04)  # std of the paper's blotchy grain
    strength: float = 1.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if field.name.endswith("_prob") and not 0.0 <= getattr(self, field.name) <= 1.0:
                raise ValueError(f"{field.name} must be in [0, 1], got {getattr(self, field.name)}")
        for name in ("blur_sigma", "contrast", "noise_std", "jpeg_quality", "texture_std"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must satisfy 0 <= low <= high, got {(low, high)}")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError(f"jpeg_quality must lie in [1, 100], got {self.jpeg_quality}")
        if min(self.max_rotation_deg, self.max_corner_shift, self.max_brightness_delta, self.strength) < 0:
            raise ValueError("magnitudes and strength must be non-negative")
        if not 0 <= self.max_lighting_drop < 1:
            raise ValueError(f"max_lighting_drop must be in [0, 1), got {self.max_lighting_drop}")

    @classmethod
    def none(cls) -> DistortionConfig:
        """The identity: nothing is applied."""
        probs = {f.name: 0.0 for f in dataclasses.fields(cls) if f.name.endswith("_prob")}
        return cls(**probs)

    @classmethod
    def camera(cls, strength: float = 1.0) -> DistortionConfig:
        """Every Camera-PrIMuS distortion on every image; for writing a distorted test split."""
        probs = {f"{step}_prob": 1.0 for step in _CAMERA_STEPS}
        return cls(strength=strength, **probs)

    @classmethod
    def photo(cls, strength: float = 1.0) -> DistortionConfig:
        """A phone photo of a printed page: the camera distortions, rotation and skew up to ±5°, uneven lighting,
        paper texture and JPEG at phone-camera quality."""
        probs = {f"{step}_prob": 1.0 for step in (*_CAMERA_STEPS, "lighting", "texture")}
        return cls(strength=strength, max_rotation_deg=5.0, jpeg_quality=(40, 85), **probs)

    # Effective magnitudes after ``strength``; Python floats, so kernel sizes stay static.
    def _scaled(self, value: float) -> float:
        return value * self.strength

    def _contrast_range(self) -> tuple[float, float]:
        low, high = self.contrast
        return 1.0 - self.strength * (1.0 - low), 1.0 + self.strength * (high - 1.0)

    def _jpeg_range(self) -> tuple[int, int]:
        def scale(quality: int) -> int:
            return int(round(min(100.0, max(1.0, 100.0 - self.strength * (100.0 - quality)))))

        return scale(self.jpeg_quality[0]), scale(self.jpeg_quality[1])


def distort(image: tf.Tensor, seed: tf.Tensor, config: DistortionConfig = DistortionConfig()) -> tf.Tensor:
    """Distort one grayscale image [H, W, 1] float32 in [0, 1]; a pure function of (image, seed, config).

    ``seed`` is a shape-[2] int32/int64 tensor as used by TF's stateless random ops.
    """
    image = tf.convert_to_tensor(image, tf.float32)
    sub_seeds = tf.unstack(tf.random.experimental.stateless_split(_as_seed(seed), len(_STEPS)))
    seeds = dict(zip(_STEPS, sub_seeds, strict=True))
    page_seed = tf.random.experimental.stateless_fold_in(_as_seed(seed), _PAGE_SEED)
    seeds.update(zip(_PAGE_STEPS, tf.unstack(tf.random.experimental.stateless_split(page_seed, len(_PAGE_STEPS)))))
    out = _texture(image, seeds["texture"], config)  # on the paper, before the camera sees it
    out = _geometry(out, seeds["geometry"], config)
    out = _lighting(out, seeds["lighting"], config)
    out = _blur(out, seeds["blur"], config)
    out = _contrast(out, seeds["contrast"], config)
    out = _brightness(out, seeds["brightness"], config)
    out = _noise(out, seeds["noise"], config)
    out = _jpeg(tf.clip_by_value(out, 0.0, 1.0), seeds["jpeg"], config)
    return tf.ensure_shape(out, image.shape)


def example_seed(base_seed: int | tf.Tensor, index: int | tf.Tensor) -> tf.Tensor:
    """The stateless seed of example ``index`` under ``base_seed`` (shared by the augmenter and the PNG writer)."""
    base = tf.stack([tf.cast(base_seed, tf.int64), tf.constant(0x5C0E, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, tf.cast(index, tf.int64))


def make_augmenter(
    config: DistortionConfig, base_seed: int
) -> Callable[[tf.Tensor, Mapping[str, Any]], dict[str, Any]]:
    """A ``dataset.enumerate().map(...)`` function distorting ``example["image"]``, deterministic per index."""

    def augment(index: tf.Tensor, example: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(example)
        out["image"] = distort(example["image"], example_seed(base_seed, index), config)
        return out

    return augment


def distort_png_bytes(
    png: bytes, seed: int, config: DistortionConfig = DistortionConfig(), index: int = 0
) -> bytes:
    """Decode a PNG as grayscale, distort it, re-encode as 8-bit grayscale PNG.

    The result equals (up to 8-bit rounding) what ``make_augmenter(config, seed)`` yields for example ``index``, so a
    distorted copy of a split can be written with ``seed`` fixed and ``index`` running over the examples.
    """
    image = tf.image.convert_image_dtype(tf.io.decode_png(png, channels=1), tf.float32)
    out = _compiled_distort(config)(image, example_seed(seed, index))
    return tf.io.encode_png(tf.image.convert_image_dtype(out, tf.uint8, saturate=True)).numpy()


@functools.lru_cache(maxsize=8)
def _compiled_distort(config: DistortionConfig) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """One traced graph per config for any image size, so writing a split does not run op by op."""
    signature = [tf.TensorSpec([None, None, 1], tf.float32), tf.TensorSpec([2], tf.int64)]
    return tf.function(lambda image, seed: distort(image, seed, config), input_signature=signature)


def _as_seed(seed: tf.Tensor) -> tf.Tensor:
    seed = tf.convert_to_tensor(seed)
    return tf.ensure_shape(tf.cast(seed, tf.int64), [2])


def _gate_and_params(seed: tf.Tensor, prob: float, num_params: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Draw the apply/skip decision and ``num_params`` uniforms in [0, 1) from one sub-seed."""
    u = tf.random.stateless_uniform([num_params + 1], seed=seed)
    return u[0] < prob, u[1:]


def _lerp(u: tf.Tensor, low: float, high: float) -> tf.Tensor:
    return low + (high - low) * u


# --- geometry: rotation + perspective as one projective transform -------------------------------------------------


def _geometry(image: tf.Tensor, seed: tf.Tensor, config: DistortionConfig) -> tf.Tensor:
    """Rotate about the centre and jitter the four corners; pixels coming from outside are white."""
    max_angle = math.radians(config._scaled(config.max_rotation_deg))
    max_shift = config._scaled(config.max_corner_shift)
    rot_seed, persp_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    rotate, u_angle = _gate_and_params(rot_seed, config.rotation_prob if max_angle > 0 else 0.0, 1)
    warp, u_shift = _gate_and_params(persp_seed, config.perspective_prob if max_shift > 0 else 0.0, 8)
    angle = tf.where(rotate, _lerp(u_angle[0], -max_angle, max_angle), 0.0)
    shift = tf.where(warp, _lerp(u_shift, -max_shift, max_shift), 0.0)
    return tf.cond(
        tf.logical_or(rotate, warp),
        lambda: staff_image.warp(image, _homography(tf.shape(image), angle, tf.reshape(shift, [4, 2])),
                                 tf.shape(image)[:2], _WHITE),
        lambda: image,
    )


def _homography(shape: tf.Tensor, angle: tf.Tensor, shift: tf.Tensor) -> tf.Tensor:
    """The 8 output->input transform parameters mapping the rotated, jittered corners back onto the image corners.

    ``shift`` [4, 2] is in units of image height.  Corners are pixel edges (-0.5 .. size - 0.5) so the system stays
    non-singular even for one-pixel-wide images.
    """
    height = tf.cast(shape[0], tf.float64)
    width = tf.cast(shape[1], tf.float64)
    src = tf.stack([[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5], [-0.5, height - 0.5]])
    centre = tf.stack([(width - 1.0) / 2.0, (height - 1.0) / 2.0])
    cos, sin = tf.cos(tf.cast(angle, tf.float64)), tf.sin(tf.cast(angle, tf.float64))
    rotation = tf.stack([[cos, -sin], [sin, cos]])
    dst = tf.linalg.matvec(rotation, src - centre) + centre + tf.cast(shift, tf.float64) * height
    return tf.cast(_solve_homography(dst, src), tf.float32)


def _solve_homography(frm: tf.Tensor, to: tf.Tensor) -> tf.Tensor:
    """Parameters [a0, a1, a2, b0, b1, b2, c0, c1] with to = ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)."""
    x, y = frm[:, 0], frm[:, 1]
    u, v = to[:, 0], to[:, 1]
    zeros, ones = tf.zeros_like(x), tf.ones_like(x)
    rows_u = tf.stack([x, y, ones, zeros, zeros, zeros, -x * u, -y * u], axis=1)
    rows_v = tf.stack([zeros, zeros, zeros, x, y, ones, -x * v, -y * v], axis=1)
    matrix = tf.concat([rows_u, rows_v], axis=0)
    rhs = tf.concat([u, v], axis=0)[:, tf.newaxis]
    return tf.linalg.solve(matrix, rhs)[:, 0]




# --- photometric --------------------------------------------------------------------------------------------------


def _blur(image: tf.Tensor, seed: tf.Tensor, config: DistortionConfig) -> tf.Tensor:
    """Separable Gaussian blur (defocus / camera shake) with a random sigma; borders padded with white."""
    low, high = config._scaled(config.blur_sigma[0]), config._scaled(config.blur_sigma[1])
    if high <= 0 or config.blur_prob == 0:
        return image
    apply, u = _gate_and_params(seed, config.blur_prob, 1)
    radius = max(1, math.ceil(3.0 * high))
    sigma = tf.maximum(_lerp(u[0], low, high), 1e-3)
    return tf.cond(apply, lambda: _separable_gaussian(image, sigma, radius), lambda: image)


def _separable_gaussian(image: tf.Tensor, sigma: tf.Tensor, radius: int) -> tf.Tensor:
    offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(offsets / sigma))
    kernel /= tf.reduce_sum(kernel)
    padded = tf.pad(image, [[radius, radius], [radius, radius], [0, 0]], constant_values=_WHITE)[tf.newaxis]
    padded = tf.nn.conv2d(padded, tf.reshape(kernel, [-1, 1, 1, 1]), strides=1, padding="VALID")
    padded = tf.nn.conv2d(padded, tf.reshape(kernel, [1, -1, 1, 1]), strides=1, padding="VALID")
    return padded[0]


def _contrast(image: tf.Tensor, seed: tf.Tensor, config: DistortionConfig) -> tf.Tensor:
    """Scale deviations from the mean grey: low contrast = grey ink on a grey page."""
    low, high = config._contrast_range()
    apply, u = _gate_and_params(seed, config.contrast_prob, 1)
    factor = _lerp(u[0], low, high)
    return tf.cond(apply, lambda: (image - tf.reduce_mean(image)) * factor + tf.reduce_mean(image), lambda: image)


def _brightness(image: tf.Tensor, seed: tf.Tensor, config: DistortionConfig) -> tf.Tensor:
    """Global exposure offset."""
    delta = config._scaled(config.max_brightness_delta)
    apply, u = _gate_and_params(seed, config.brightness_prob, 1)
    return tf.cond(apply, lambda: image + _lerp(u[0], -delta, delta), lambda: image)


def _noise(image: tf.Tensor, seed: tf.Tensor, config: DistortionConfig) -> tf.Tensor:
    """Additive Gaussian sensor noise with a random standard deviation."""
    low, high = config._scaled(config.noise_std[0]), config._scaled(config.noise_std[1])
    gate_seed, field_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    apply, u = _gate_and_params(gate_seed, config.noise_prob, 1)
    std = _lerp(u[0], low, high)
    return tf.cond(
        apply, lambda: image + std * tf.random.stateless_normal(tf.shape(image), seed=field_seed), lambda: image
    )


def _texture(image: tf.Tensor, seed: tf.Tensor, config: DistortionConfig) -> tf.Tensor:
    """Paper grain: blotches about 16 px across (coarse noise, bilinearly enlarged) plus a finer speckle, darker
    where the paper is thin or stained."""
    low, high = config._scaled(config.texture_std[0]), config._scaled(config.texture_std[1])
    if high <= 0 or config.texture_prob == 0:
        return image
    gate_seed, coarse_seed, fine_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    apply, u = _gate_and_params(gate_seed, config.texture_prob, 1)
    std = _lerp(u[0], low, high)

    def grain() -> tf.Tensor:
        size = tf.shape(image)[:2]
        coarse = tf.random.stateless_normal(tf.stack([size[0] // 16 + 2, size[1] // 16 + 2, 1]), seed=coarse_seed)
        blotches = tf.image.resize(coarse, size, method="bilinear")
        speckle = tf.random.stateless_normal(tf.shape(image), seed=fine_seed)
        return image - std * tf.abs(blotches) - 0.5 * std * tf.abs(speckle)

    return tf.cond(apply, grain, lambda: image)


def _lighting(image: tf.Tensor, seed: tf.Tensor, config: DistortionConfig) -> tf.Tensor:
    """Uneven light over the page (a lamp to one side, the phone's shadow, a vignette): the image times a smooth
    field, 1 where the light is brightest, falling by up to ``max_lighting_drop`` along a random direction and
    towards the corners."""
    drop = min(config._scaled(config.max_lighting_drop), 0.95)
    if drop <= 0 or config.lighting_prob == 0:
        return image
    apply, u = _gate_and_params(seed, config.lighting_prob, 3)

    def lit() -> tf.Tensor:
        height, width = tf.unstack(tf.shape(image)[:2])
        ys = tf.linspace(-1.0, 1.0, height)[:, None]
        xs = tf.linspace(-1.0, 1.0, width)[None, :]
        angle = 2.0 * math.pi * u[0]
        slope = (tf.cos(angle) * xs + tf.sin(angle) * ys + math.sqrt(2.0)) / (2.0 * math.sqrt(2.0))  # 0 .. 1
        vignette = (tf.square(xs) + tf.square(ys)) / 2.0  # 0 at the centre, 1 in the corners
        mix = u[1]
        field = 1.0 - _lerp(u[2], 0.3, 1.0) * drop * (mix * slope + (1.0 - mix) * vignette)
        return image * field[:, :, None]

    return tf.cond(apply, lit, lambda: image)


def _jpeg(image: tf.Tensor, seed: tf.Tensor, config: DistortionConfig) -> tf.Tensor:
    """JPEG round trip at a random quality (blocking and ringing as in shared phone photos)."""
    low, high = config._jpeg_range()
    apply, _ = _gate_and_params(seed, config.jpeg_prob, 0)
    quality_seed = tf.random.experimental.stateless_fold_in(seed, 1)
    quality = tf.random.stateless_uniform([], quality_seed, minval=low, maxval=high + 1, dtype=tf.int32)
    return tf.cond(
        apply, lambda: tf.ensure_shape(tf.image.adjust_jpeg_quality(image, quality), [None, None, 1]), lambda: image
    )
