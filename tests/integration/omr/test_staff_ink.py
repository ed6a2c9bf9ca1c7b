"""The recognizer frames a staff's own ink, not the lyrics, text and part name printed around it
(docs/decisions/0026-staff-ink.md)."""
import io
import random

import numpy as np
import pytest
from music21 import corpus
from PIL import Image, ImageDraw, ImageFont

import zoo
from zoo.datasets import engrave, markings, segments
from zoo.metrics import ErrorRates
from zoo.preprocessing import image as staff_image

FIXTURE_PNG = "000051652-1_2_1.png"


def _png(gray: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gray.astype(np.uint8), "L").save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def fixture_gray(primus_fixture) -> np.ndarray:
    return np.asarray(Image.open(primus_fixture / FIXTURE_PNG).convert("L"))


def _with_text(gray: np.ndarray) -> np.ndarray:
    """The staff on a page with a line of words under it and a part name before it."""
    h, w = gray.shape
    page = Image.new("L", (w + 160, h + 2 * h // 3), 255)
    page.paste(Image.fromarray(gray), (160, 0))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=max(12, h // 5))
    draw.text((180, h + h // 6), "  ".join(["Lau-da-te Do-mi-num"] * 6), fill=0, font=font)
    draw.text((4, h // 3), "Violin", fill=0, font=font)
    return np.asarray(page)


def test_a_bare_staff_is_left_exactly_as_it_is(fixture_gray):
    paper = staff_image.decode_image(_png(fixture_gray))
    assert bool(staff_image.staff_lines(paper)[0])
    np.testing.assert_array_equal(staff_image.clear_outside_staff(paper).numpy(), paper.numpy())


def test_words_under_a_staff_and_a_part_name_before_it_are_cleared(fixture_gray, primus_fixture):
    bare = staff_image.png_to_staff(_png(fixture_gray)).numpy()
    texted = _png(_with_text(fixture_gray))
    framed = staff_image.png_to_staff(texted).numpy()
    # the staff's own frame, at the staff's own scale (its own paper below is trimmed once text stood there)
    assert abs(framed.shape[1] - bare.shape[1]) <= 0.05 * bare.shape[1]
    reference = (primus_fixture / FIXTURE_PNG.replace(".png", ".semantic")).read_text().split()
    rates = ErrorRates()
    rates.add(reference, zoo.load("omr-resnet-bisru").predict(texted)["tokens"])
    assert rates.summary()["errors"] <= 1  # the fixture's own figure


def test_lines_not_found_leave_the_image_to_the_margin_rules(fixture_gray):
    tilted = Image.fromarray(fixture_gray).rotate(4, expand=True, fillcolor=255)
    blank_text = Image.new("L", (600, 120), 255)
    ImageDraw.Draw(blank_text).text((10, 40), "no staff here, only words", fill=0,
                                     font=ImageFont.load_default(size=24))
    for gray in (np.asarray(tilted), np.asarray(blank_text)):
        paper = staff_image.decode_image(_png(gray))
        assert not bool(staff_image.staff_lines(paper)[0])
        np.testing.assert_array_equal(staff_image.clear_outside_staff(paper).numpy(), paper.numpy())


def test_an_engraved_chorale_with_lyrics_is_framed_like_the_bare_one():
    part = corpus.parse("bach/bwv94.8").parts[0]  # the soprano, with its own lyrics
    bare_seg = segments.cleaned(segments.standalone_segment(part, 1, 4, keep_markings=True))
    sung = segments.standalone_segment(part, 1, 4, keep_markings=True)
    markings.decorate(sung, random.Random(3), markings.MarkingRates(lyrics=1.0))
    bare = staff_image.png_to_staff(engrave.engrave(segments.to_musicxml(bare_seg), "Leipzig").png).numpy()
    drawn = engrave.engrave(segments.to_musicxml(sung), "Leipzig").png
    framed = staff_image.png_to_staff(drawn).numpy()
    trimmed = staff_image.trim_margins(staff_image.decode_image(drawn))
    assert trimmed.shape[0] > 1.5 * staff_image.trim_margins(staff_image.decode_image(
        engrave.engrave(segments.to_musicxml(bare_seg), "Leipzig").png)).shape[0]  # the verses double its height
    assert abs(framed.shape[1] - bare.shape[1]) <= 0.1 * bare.shape[1]  # cleared, it is the staff's scale again
