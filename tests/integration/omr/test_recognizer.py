"""Score recognizers on real staves: shapes, ablations, the fixture, photos, margins, bad images, pages, the
serving signature, shipped weights, test-time augmentation."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import zoo
from zoo.datasets import tfrecords
from zoo.decoding import tta
from zoo.metrics import ErrorRates
from zoo.models.omr import ImageInputError
from zoo.notation.vocabulary import load_vocabulary

FIXTURE_PNG = "000051652-1_2_1.png"


def _png(array: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("name", ["omr-resnet-bisru", "omr-crnn-bilstm"])
def test_models_map_width_to_time(name):
    model = zoo.create_model(name)
    assert len(model.vocabulary) == len(load_vocabulary())
    x = {"image": tf.zeros([2, 64, 400, 1]), "width": tf.constant([400, 240])}
    assert model.keras_model(x).shape == (2, 100, len(model.vocabulary) + 1)


def test_ablations_are_config_switches():
    no_fusion = zoo.create_model("omr-resnet-bisru", fusion=False)
    lstm = zoo.create_model("omr-resnet-bisru", rnn="lstm")
    assert "fusion" not in [layer.name for layer in no_fusion.keras_model.layers]
    assert any("bilstm" in layer.name for layer in lstm.keras_model.layers)


def test_predict_on_the_primus_fixture(recognizer, primus_fixture):
    result = recognizer.predict(primus_fixture / FIXTURE_PNG)
    assert set(result) == {"tokens", "confidence", "token_confidences"}
    assert all(t in recognizer.vocabulary for t in result["tokens"])
    assert 0.0 <= result["confidence"] <= 1.0
    assert len(result["token_confidences"]) == len(result["tokens"])


def test_colour_photo_is_converted(recognizer, primus_fixture):
    gray = np.asarray(Image.open(primus_fixture / FIXTURE_PNG).convert("L"))
    rgb = np.stack([gray, (gray * 0.9).astype(np.uint8), gray], -1)
    staff = recognizer.preprocess(_png(rgb, "RGB"))
    assert staff.shape[0] == 64 and staff.shape[2] == 1


def test_loose_margins_around_a_staff_are_trimmed(primus_fixture):
    """A staff cut loosely from a page normalizes as a tight crop; the margins training staves have are kept."""
    from zoo.preprocessing import image as staff_image

    gray = np.asarray(Image.open(primus_fixture / FIXTURE_PNG).convert("L"))
    h, w = gray.shape

    def padded(top: int, bottom: int, speck: bool = False) -> bytes:
        page = np.full((h + top + bottom, w), 255, np.uint8)
        page[top: top + h] = gray
        if speck:  # one dark pixel of sensor noise in the margin holds nothing open
            page[2, 2] = 0
        return _png(page)

    loose = staff_image.png_to_staff(padded(h // 2, h // 2)).numpy()
    np.testing.assert_array_equal(loose, staff_image.png_to_staff(padded(h, 3 * h, speck=True)).numpy())
    ink = gray < int(gray.max()) - staff_image.INK_DEPTH * (int(gray.max()) - int(gray.min()))
    rows = np.flatnonzero(ink.sum(1) >= 2)
    tight = rows[-1] - rows[0] + 1 + 2 * round(staff_image.TRIM_MARGIN * (rows[-1] - rows[0] + 1))
    assert loose.shape[1] == round(w * 64 / tight)
    for top, bottom in ((0, 0), (h // 20, h // 20)):  # margins like the training staves' are left as they are
        paper = staff_image.decode_image(padded(top, bottom))
        assert staff_image.trim_margins(paper).shape == paper.shape


def test_a_staff_with_page_margins_on_every_side_reads_as_the_staff(primus_fixture):
    """Paper left and right is cut as paper above and below is: a staff with half its width of paper each side
    normalizes as one with more, to the width of its ink, and the PrIMuS fixture in a page of paper reads as well
    as its own crop."""
    from zoo.preprocessing import image as staff_image

    gray = np.asarray(Image.open(primus_fixture / FIXTURE_PNG).convert("L"))
    h, w = gray.shape

    def framed(top: int, bottom: int, left: int, right: int) -> bytes:
        page = np.full((h + top + bottom, w + left + right), 255, np.uint8)
        page[top: top + h, left: left + w] = gray
        return _png(page)

    half = staff_image.png_to_staff(framed(0, 0, w // 2, w // 2)).numpy()
    np.testing.assert_array_equal(half, staff_image.png_to_staff(framed(0, 0, w, 3 * w)).numpy())
    ink = gray < int(gray.max()) - staff_image.INK_DEPTH * (int(gray.max()) - int(gray.min()))
    rows, cols = (np.flatnonzero(ink.sum(axis) >= 2) for axis in (1, 0))
    ink_height = rows[-1] - rows[0] + 1
    keep = round(staff_image.TRIM_MARGIN * ink_height)
    assert half.shape[1] == round((cols[-1] - cols[0] + 1 + 2 * keep) * 64 / h)  # the fixture's own top and bottom
    model = zoo.load("omr-resnet-bisru")
    reference = (primus_fixture / FIXTURE_PNG.replace(".png", ".semantic")).read_text().split()
    for page in (primus_fixture / FIXTURE_PNG, framed(h, h, w // 2, w // 2)):
        rates = ErrorRates()
        rates.add(reference, model.predict(page)["tokens"])
        assert rates.summary()["errors"] <= 1  # the fixture's benchmark figure, framed either way


@pytest.mark.parametrize("data, message", [
    (b"", "image bytes are empty"),
    (b"definitely not an image", "not a PNG, JPEG or BMP image"),
    (_png(np.full((100, 400), 255)), "image is blank"),
    (_png(np.zeros((8, 8))), "at least 16x16"),
    (_png(np.tile(np.array([[0, 255]]), (20, 3000))), "at most 4096 px"),
])
def test_bad_images_get_clear_errors(recognizer, data, message):
    with pytest.raises(ImageInputError, match=message):
        recognizer.predict(data)


def test_page_is_split_into_staves(primus_fixture):
    recognizer = zoo.load("omr-resnet-bisru")  # trained: readings that are no staff are left out of a page
    staff = np.asarray(Image.open(primus_fixture / FIXTURE_PNG).convert("L"))
    page = np.full((3 * staff.shape[0] + 120, staff.shape[1] + 40), 255, np.uint8)
    for k in range(3):
        top = 20 + k * (staff.shape[0] + 40)
        page[top: top + staff.shape[0], 20: 20 + staff.shape[1]] = staff
    results = recognizer.recognize_page(_png(page))
    assert len(results) == 3
    assert results[0]["tokens"] == results[1]["tokens"] == results[2]["tokens"]


def test_serving_signature_takes_png_bytes(recognizer, primus_fixture):
    data = (primus_fixture / FIXTURE_PNG).read_bytes()
    out = recognizer.serving_signatures()["serving_default"](tf.constant([data, data]))
    assert out["tokens"].shape[0] == 2 and out["confidence"].shape == (2,)
    n = int(out["lengths"][0])
    assert [t.decode() for t in out["tokens"][0].numpy()[:n]] == recognizer.predict(data)["tokens"]


@pytest.mark.parametrize("name", ["omr-resnet-bisru", "omr-crnn-bilstm"])
def test_shipped_weights_read_staves_they_never_saw(name, staff_build):
    """A fresh engraving of corpus incipits (every split; mostly pieces the model did not train on)."""
    from zoo.training import omr as train_omr

    data, _ = staff_build
    model = zoo.load(name)
    assert model.manifest.sha256 and len(model.vocabulary) > len(load_vocabulary())
    totals = ErrorRates()
    for split in set(tfrecords.splits_with_records(data, "staff")) & {"train", "validation", "test"}:
        s = train_omr.evaluate(model, data, split, by="key")
        totals.errors += s["errors"]
        totals.reference_tokens += s["reference_tokens"]
        # every staff falls in the group of its key signature, and the groups add up
        assert all(key.startswith("keySignature-") or key == "no keySignature" for key in s["by_key"])
        for field in ("sequences", "errors", "reference_tokens"):
            assert sum(g[field] for g in s["by_key"].values()) == s[field]
    assert totals.reference_tokens > 300
    with pytest.raises(ValueError, match="unknown grouping 'font'"):
        train_omr.evaluate(model, data, "test", by="font")
    assert totals.ser < 0.5, f"{name}: SER {totals.ser:.3f} (untrained weights score ≈ 1.0)"


def test_test_time_augmentation_picks_one_of_the_spacings_readings(primus_fixture):
    from zoo.preprocessing import image as staff_image

    model = zoo.load("omr-resnet-bisru")
    staff = model.preprocess(primus_fixture / FIXTURE_PNG)
    readings = [model.recognize_staves([staff_image.rescale_width(staff, scale).numpy()])[0]["tokens"]
                for scale in tta.WIDTH_SCALES]
    voted = model.recognize_staves([staff, staff[:, : staff.shape[1] // 2]], tta=True)
    assert len(voted) == 2 and voted[0]["tokens"] in readings
    assert voted[0]["agreement"] == pytest.approx(readings.count(voted[0]["tokens"]) / len(readings), abs=1e-4)
    assert model.predict(primus_fixture / FIXTURE_PNG, tta=True) == voted[0]
