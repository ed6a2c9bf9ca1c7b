"""Camera-PrIMuS-style distortions: determinism, graph compatibility, and that the staff survives."""
from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from zoo.preprocessing.distortions import (
    DistortionConfig,
    distort,
    distort_png_bytes,
    example_seed,
    make_augmenter,
)

STAFF_PNG = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "primus" / "000051652-1_2_1.png"
CAMERA = DistortionConfig.camera()
SIGNATURE = [tf.TensorSpec([None, None, 1], tf.float32), tf.TensorSpec([2], tf.int64)]


@pytest.fixture(scope="module")
def png_bytes() -> bytes:
    return STAFF_PNG.read_bytes()


@pytest.fixture(scope="module")
def staff(png_bytes) -> tf.Tensor:
    return tf.image.convert_image_dtype(tf.io.decode_png(png_bytes, channels=1), tf.float32)


def _seed(a: int, b: int = 0) -> tf.Tensor:
    return tf.constant([a, b], tf.int64)


def _dark_fraction(image: np.ndarray) -> float:
    """Share of ink pixels, thresholded halfway between ink and paper so contrast changes do not matter."""
    threshold = (np.percentile(image, 1) + np.percentile(image, 99)) / 2
    return float((image < threshold).mean())


def _only(**overrides) -> DistortionConfig:
    return dataclasses.replace(DistortionConfig.none(), **overrides)


def test_same_seed_is_bitwise_equal(staff):
    first = distort(staff, _seed(3, 4), CAMERA).numpy()
    second = distort(staff, tf.constant([3, 4], tf.int32), CAMERA).numpy()
    np.testing.assert_array_equal(first, second)


def test_different_seeds_differ(staff):
    outputs = [distort(staff, _seed(s), CAMERA).numpy() for s in range(3)]
    assert not np.array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[1], outputs[2])


@pytest.mark.parametrize("config", [CAMERA, DistortionConfig(), DistortionConfig.camera(strength=2.0)])
def test_shape_dtype_and_range_preserved(staff, config):
    for s in range(4):
        out = distort(staff, _seed(s), config)
        assert out.shape == staff.shape and out.dtype == tf.float32
        assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0


def test_none_is_identity(staff):
    np.testing.assert_allclose(distort(staff, _seed(1), DistortionConfig.none()).numpy(), staff.numpy(), atol=1e-6)


def test_tf_function_with_dynamic_shape_matches_eager(staff):
    fn = tf.function(lambda image, seed: distort(image, seed, CAMERA), input_signature=SIGNATURE)
    np.testing.assert_array_equal(fn(staff, _seed(5)).numpy(), distort(staff, _seed(5), CAMERA).numpy())
    for height, width in [(1, 1), (7, 300), (64, 33)]:
        small = tf.image.resize(staff, [height, width])
        out = fn(small, _seed(height))
        assert out.shape == (height, width, 1)
    assert fn.experimental_get_tracing_count() == 1


def test_tf_data_pipeline_is_deterministic_per_index(staff):
    images = [staff, staff[:, :500], staff[:100]]
    dataset = tf.data.Dataset.from_generator(
        lambda: ({"image": image, "id": i} for i, image in enumerate(images)),
        output_signature={"image": tf.TensorSpec([None, None, 1], tf.float32), "id": tf.TensorSpec([], tf.int32)},
    )
    augmenter = make_augmenter(CAMERA, base_seed=42)
    runs = [list(dataset.enumerate().map(augmenter).as_numpy_iterator()) for _ in range(2)]
    for first, second, image in zip(runs[0], runs[1], images, strict=True):
        assert first["image"].shape == image.shape
        np.testing.assert_array_equal(first["image"], second["image"])
        assert first["id"] == second["id"]
    expected = distort(images[1], example_seed(42, 1), CAMERA).numpy()
    np.testing.assert_array_equal(runs[0][1]["image"], expected)
    other = make_augmenter(CAMERA, base_seed=43)(tf.constant(1, tf.int64), {"image": images[1]})["image"]
    assert not np.array_equal(other.numpy(), expected)


def test_staff_remains(staff):
    clean = staff.numpy()
    for s in range(8):
        out = distort(staff, _seed(s), CAMERA).numpy()
        assert np.abs(out - clean).mean() < 0.35
        assert 0.5 < _dark_fraction(out) / _dark_fraction(clean) < 2.0
        # Ink stays clearly darker than paper.
        assert np.percentile(out, 99) - np.percentile(out, 1) > 0.25


def test_rotation_fills_with_white(staff):
    config = _only(rotation_prob=1.0, max_rotation_deg=15.0)
    out = distort(staff, _seed(0), config).numpy()
    assert not np.array_equal(out, staff.numpy())
    # A 15 degree turn of a 1041 x 155 image brings outside-the-image area into at least two corners.
    corners = np.array([out[0, 0, 0], out[0, -1, 0], out[-1, 0, 0], out[-1, -1, 0]])
    assert (corners == 1.0).sum() >= 2
    assert out.min() < 0.5  # the staff itself is still drawn


def test_each_distortion_alone_changes_image(staff):
    singles = {
        "rotation": _only(rotation_prob=1.0),
        "perspective": _only(perspective_prob=1.0),
        "blur": _only(blur_prob=1.0),
        "contrast": _only(contrast_prob=1.0),
        "brightness": _only(brightness_prob=1.0),
        "noise": _only(noise_prob=1.0),
        "jpeg": _only(jpeg_prob=1.0),
        "lighting": _only(lighting_prob=1.0),
        "texture": _only(texture_prob=1.0),
    }
    for name, config in singles.items():
        out = distort(staff, _seed(11), config).numpy()
        assert not np.allclose(out, staff.numpy(), atol=1e-3), name


def test_zero_strength_is_identity(staff):
    out = distort(staff, _seed(2), dataclasses.replace(CAMERA, strength=0.0, jpeg_prob=0.0))
    np.testing.assert_allclose(out.numpy(), staff.numpy(), atol=1e-6)


def test_invalid_config_rejected():
    with pytest.raises(ValueError):
        DistortionConfig(blur_prob=1.5)
    with pytest.raises(ValueError):
        DistortionConfig(contrast=(1.2, 0.6))


def test_distort_png_bytes(png_bytes, staff):
    out = distort_png_bytes(png_bytes, seed=7, config=CAMERA, index=3)
    decoded = Image.open(io.BytesIO(out))
    assert decoded.format == "PNG" and decoded.mode == "L"
    assert decoded.size == (staff.shape[1], staff.shape[0])
    assert out == distort_png_bytes(png_bytes, seed=7, config=CAMERA, index=3)
    assert out != distort_png_bytes(png_bytes, seed=7, config=CAMERA, index=4)
    # Same pixels (up to 8-bit rounding) as the training augmenter gives example 3 under base seed 7.
    augmented = make_augmenter(CAMERA, 7)(tf.constant(3, tf.int64), {"image": staff})["image"].numpy()
    assert np.abs(np.asarray(decoded, np.float32) / 255.0 - augmented[..., 0]).max() <= 0.5 / 255 + 1e-6


def test_photo_adds_page_distortions_and_camera_stays_camera_primus(staff):
    assert CAMERA.lighting_prob == CAMERA.texture_prob == 0.0 and CAMERA.max_rotation_deg == 2.0
    photo = DistortionConfig.photo()
    assert photo.lighting_prob == photo.texture_prob == 1.0 and photo.max_rotation_deg == 5.0
    clean = staff.numpy()
    for s in range(6):
        out = distort(staff, _seed(s), photo).numpy()
        assert 0.4 < _dark_fraction(out) / _dark_fraction(clean) < 2.5
        assert np.percentile(out, 99) - np.percentile(out, 1) > 0.2  # ink still darker than paper


def test_lighting_is_uneven_and_texture_greys_the_paper(staff):
    white = tf.ones([120, 400, 1])
    lit = distort(white, _seed(3), _only(lighting_prob=1.0)).numpy()
    assert lit.max() <= 1.0 and lit.max() - lit.min() > 0.05  # brighter on one side than the other
    grain = distort(white, _seed(3), _only(texture_prob=1.0)).numpy()
    assert grain.max() <= 1.0 and 0.005 < 1.0 - grain.mean() < 0.2
    with pytest.raises(ValueError):
        DistortionConfig(max_lighting_drop=1.0)
