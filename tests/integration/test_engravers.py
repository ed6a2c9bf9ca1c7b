"""LilyPond and MuseScore 3 engrave one-staff segments as Verovio does: one cropped system, labelled by the
segment's semantic encoding (make setup installs both programs)."""
import io
import json

import numpy as np
import pytest
from music21 import clef, converter, key, meter, note, stream
from PIL import Image

from zoo.datasets import engravers, segments, staff
from zoo.datasets.engrave import EngravingError


def _segment(time_signature: str = "3/4") -> str:
    part = stream.Part()
    m = stream.Measure(number=1)
    m.append([clef.TrebleClef(), key.KeySignature(2), meter.TimeSignature(time_signature)])
    for p in ("D4", "F#4", "A4") + (("D5",) if time_signature != "3/4" else ()):
        m.append(note.Note(p, quarterLength=1))
    part.append(m)
    return segments.to_musicxml(part)


@pytest.mark.parametrize("name", engravers.ENGRAVERS)
def test_each_engraver_draws_one_cropped_staff(name):
    drawn = engravers.engrave(_segment(), name)
    gray = np.asarray(Image.open(io.BytesIO(drawn.png)))
    assert gray.shape == (drawn.height, drawn.width) and gray.dtype == np.uint8
    # one staff about 11 px a staff space (44 px of lines, plus stems and ledger room), one system wide
    assert 40 <= drawn.height <= 160 and drawn.width > 2 * drawn.height
    assert gray.min() < 64 and (gray[0] > 200).mean() > 0.5  # ink inside, paper at the crop's edge


def test_lilypond_draws_time_signatures_as_the_musicxml_says():
    numeric, common = _segment("4/4"), _segment("4/4").replace("<time>", '<time symbol="common">')
    converted = '\\header {\n    title = "Music21 Fragment"\n    }\n\\relative { \\time 4/4 c4 \\break d }'
    assert "\\numericTimeSignature \\time 4/4" in engravers.lilypond_source(converted, numeric)
    source = engravers.lilypond_source(converted, common)
    assert "\\numericTimeSignature" not in source and "\\time 4/4" in source
    assert "Music21 Fragment" not in source and "\\break" not in source and "one-line-breaking" in source


def test_plain_musicxml_keeps_the_music_and_drops_titles():
    xml = _segment()
    plain = engravers.plain_musicxml(xml.replace("<part-list>", "<credit page=\"1\"><credit-words>Title"
                                                 "</credit-words></credit><part-list>"))
    assert "<credit" not in plain and "<movement-title>" not in plain
    assert [str(n.pitch) for n in converter.parse(plain).recurse().notes] == ["D4", "F#4", "A4"]


def test_unknown_engraver_and_broken_input_get_a_sentence():
    with pytest.raises(ValueError, match="unknown engraver 'Finale'"):
        engravers.engrave(_segment(), "Finale")
    with pytest.raises(EngravingError):
        engravers.engrave("<score-partwise>not music", engravers.LILYPOND)


def test_a_staff_build_engraves_with_the_other_engravers(tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({
        "collections": ["essenFolksong"], "segment_measures": [2, 3], "max_segments_per_part": 1, "max_tokens": 40,
        "fonts": list(engravers.ENGRAVERS), "scale": 60, "seed": 3}))
    report = staff.build_dataset(tmp_path / "out", limit=3, workers=1, recipe=recipe)
    assert report["records"] == 3 and set(report["per_font"]) <= set(engravers.ENGRAVERS)
    with pytest.raises(ValueError, match="unknown fonts"):
        staff.build_dataset(tmp_path / "bad", limit=1, workers=1, recipe=recipe, fonts=["Finale"])
