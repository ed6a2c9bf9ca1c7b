"""A staff photographed at a tilt is turned level before it is framed and read
(docs/decisions/0027-levelling.md)."""
import io

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.metrics import ErrorRates
from zoo.preprocessing import image as staff_image

FIXTURE = "000051652-1_2_1"


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def staff(primus_fixture) -> Image.Image:
    return Image.open(primus_fixture / f"{FIXTURE}.png").convert("L")


def _tilted(staff: Image.Image, degrees: float) -> bytes:
    """The staff on paper turned by ``degrees`` (counter-clockwise, as PIL turns), cut to its paper."""
    return _png(staff.rotate(degrees, resample=Image.BILINEAR, expand=True, fillcolor=255))


def test_a_level_staff_is_left_exactly_as_it_is(staff):
    paper = staff_image.decode_image(_png(staff))
    levelled, level_paper = staff_image.level(paper)
    np.testing.assert_array_equal(levelled.numpy(), paper.numpy())
    assert float(level_paper) == float(staff_image._median(paper))


@pytest.mark.parametrize("degrees", [-4.5, -2.6, 3.0, 5.0])
def test_the_tilt_is_measured_and_taken_out(staff, degrees):
    paper = staff_image.decode_image(_tilted(staff, degrees))
    assert not bool(staff_image.staff_lines(paper)[0])  # too tilted for the line finder
    # PIL turns counter-clockwise, so the rows rise to the right: a negative tilt in skew's terms
    assert abs(np.degrees(float(staff_image.skew(staff_image._ink(paper)))) + degrees) <= staff_image.SKEW_STEP
    levelled, _ = staff_image.level(paper)
    assert bool(staff_image.staff_lines(levelled)[0])


def test_a_slight_tilt_is_left_as_the_camera_distorted_training_staves_have_it(staff):
    paper = staff_image.decode_image(_tilted(staff, 1.0))
    levelled, _ = staff_image.level(paper)
    np.testing.assert_array_equal(levelled.numpy(), paper.numpy())


def test_light_falling_off_to_one_side_is_evened_out(staff):
    paper = staff_image.decode_image(_png(staff))
    np.testing.assert_array_equal(staff_image.even_light(paper).numpy(), paper.numpy())  # evenly lit: as it is
    width = paper.shape[1]
    dimmed = paper * np.linspace(1.0, 0.6, width, dtype=np.float32)[None, :, None]  # 40 % darker at the right
    evened = staff_image.even_light(dimmed).numpy()[..., 0]
    ink = staff_image._ink(paper).numpy() > 0
    assert np.percentile(evened[~ink][:, None], 5) > 0.9  # the paper is paper again, right end too
    assert np.mean(evened[ink]) < 0.5  # and the ink stays ink


def test_a_tilted_staff_reads_as_the_level_one(staff, primus_fixture):
    reference = (primus_fixture / f"{FIXTURE}.semantic").read_text().split()
    model = zoo.load("omr-resnet-bisru")
    for degrees in (-4.0, 4.0):
        rates = ErrorRates()
        rates.add(reference, model.predict(_tilted(staff, degrees))["tokens"])
        assert rates.summary()["errors"] <= 1, degrees  # the level fixture's own figure
