"""What users have: WEBP and TIFF from phones and scanners, multi-page TIFFs and PDFs, read page by page by the
library and the CLI alike; a damaged, empty or password-protected PDF gets a sentence."""
import io
import json
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

import zoo
from zoo.cli import main as cli
from zoo.metrics import edit_ops
from zoo.notation.readers import read_semantic
from zoo.preprocessing import pages
from zoo.preprocessing.errors import ImageInputError

FIXTURE_PNG = "000051652-1_2_1.png"


@pytest.fixture(scope="module")
def shipped():
    return zoo.load("omr-resnet-bisru")


@pytest.fixture
def staff(primus_fixture) -> Image.Image:
    return Image.open(primus_fixture / FIXTURE_PNG).convert("L")


def _saved(images: list[Image.Image], fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    images[0].save(buf, format=fmt, save_all=len(images) > 1, append_images=images[1:], **options)
    return buf.getvalue()


def _page(staff: Image.Image, staves: int) -> Image.Image:
    """A white A4-like page holding ``staves`` copies of the staff with paper around them."""
    page = Image.new("L", (staff.width + 200, staves * (staff.height + 120) + 200), 255)
    for k in range(staves):
        page.paste(staff, (100, 100 + k * (staff.height + 120)))
    return page


def test_webp_and_tiff_read_as_the_png_does(shipped, staff, primus_fixture):
    expected = shipped.recognize_page((primus_fixture / FIXTURE_PNG).read_bytes())[0]["tokens"]
    for fmt, options in (("WEBP", {"lossless": True}), ("TIFF", {"compression": "tiff_lzw"})):
        data = _saved([staff], fmt, **options)
        assert pages.input_pages(data)[0][:8] == b"\x89PNG\r\n\x1a\n", fmt
        (result,) = shipped.recognize_page(data)
        assert result["tokens"] == expected and "page" not in result, fmt


def _edits(tokens: list[str], truth: list[str]) -> int:
    return sum(op != "match" for op, _, _ in edit_ops(truth, tokens))


def test_multi_page_tiff_and_pdf_are_read_page_by_page(shipped, staff, primus_fixture, tmp_path):
    truth = read_semantic(next(primus_fixture.glob("*.semantic")))
    first, second = _page(staff, 1), _page(staff, 2)
    tiff = _saved([first, second], "TIFF")
    assert [p for p, _ in pages.input_staves(tiff)] == [1, 2, 2]
    results = shipped.recognize_page(tiff)
    assert [r["page"] for r in results] == [1, 2, 2]
    assert all(_edits(r["tokens"], truth) <= 3 for r in results)

    pdf = _saved([first, second], "PDF", resolution=float(pages.PDF_DPI))
    path = tmp_path / "two-pages.pdf"
    path.write_bytes(pdf)
    out = CliRunner().invoke(cli, ["recognize", str(path), "--json"])
    assert out.exit_code == 0, out.output
    staves = json.loads(out.output.strip().splitlines()[-1])["staves"]
    # rasterized again by poppler, the staff is resampled: its short multi-measure rest (the fixture's known
    # hard token) and its key signature are the readings that move
    assert [s["page"] for s in staves] == [1, 2, 2] and all(_edits(s["tokens"], truth) <= 3 for s in staves)
    text = CliRunner().invoke(cli, ["recognize", str(path)]).output
    assert "[page 2, staff 2]" in text


def test_bad_pdfs_and_files_get_a_sentence(staff, tmp_path):
    with pytest.raises(ImageInputError, match="empty"):
        pages.input_pages(b"")
    with pytest.raises(ImageInputError, match="not a readable PDF"):
        pages.input_pages(b"%PDF-1.4\n%garbage that is no PDF\n")
    with pytest.raises(ImageInputError, match="not an image or PDF"):
        pages.input_pages(b"just some text, not a page")
    gs = shutil.which("gs")  # ghostscript comes with lilypond (make setup)
    if gs is None:
        pytest.skip("ghostscript is needed to write a password-protected PDF")
    plain, locked = tmp_path / "plain.pdf", tmp_path / "locked.pdf"
    plain.write_bytes(_saved([_page(staff, 1)], "PDF", resolution=150.0))
    subprocess.run([gs, "-q", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite", "-sOwnerPassword=owner",
                    "-sUserPassword=user", f"-sOutputFile={locked}", str(plain)], check=True, capture_output=True)
    with pytest.raises(ImageInputError, match="not a readable PDF .*(password|Incorrect)"):
        pages.input_pages(locked.read_bytes())
    # the other files of the same command are still read, and the exit code says one failed
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    out = CliRunner().invoke(cli, ["recognize", str(empty), str(plain), "--json"])
    lines = [json.loads(line) for line in out.output.strip().splitlines() if line.startswith("{")]
    assert out.exit_code == 1 and "error" in lines[0] and "tokens" in lines[1]



def test_an_image_with_no_staff_gets_a_sentence(shipped, tmp_path):
    rng = np.random.default_rng(0)
    text = Image.new("L", (900, 300), 255)
    draw = ImageDraw.Draw(text)
    for line in range(8):
        draw.text((20, 10 + 35 * line), "Lorem ipsum dolor sit amet, consectetur adipiscing elit " * 2, fill=0)
    blank = Image.fromarray(np.clip(200 + rng.standard_normal((300, 900)).cumsum(1) * 0.7, 0, 255).astype(np.uint8))
    for image in (text, blank):
        with pytest.raises(ImageInputError, match="no staff found"):
            shipped.recognize_page(_saved([image], "PNG"))
    path = tmp_path / "text.png"
    text.save(path)
    out = CliRunner().invoke(cli, ["recognize", str(path), "--json"])
    assert out.exit_code == 1 and "no staff found" in json.loads(out.output.strip().splitlines()[-1])["error"]


def test_staff_readings_name_a_clef_and_notes():
    assert pages.is_staff_reading(["clef-G2", "keySignature-DM", "note-D5_quarter", "barline"])
    assert pages.is_staff_reading(["clef-F4", "multirest-4", "barline"])
    assert not pages.is_staff_reading(["keySignature-DM", "barline"])  # a text line
    assert not pages.is_staff_reading(["clef-F4", "keySignature-FM", "barline"])  # a blank photo
