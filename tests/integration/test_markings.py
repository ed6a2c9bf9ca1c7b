"""Markings (lyrics, dynamics, slurs, repeats, text, ...) are drawn on staff segments while their labels stay the
notes' semantic encoding."""
import copy
import dataclasses
import json
import random

import pytest
from music21 import corpus

from zoo.datasets import markings, segments, staff
from zoo.notation.encoder import stream_to_tokens

EVERYTHING = markings.MarkingRates(**{f.name: 1.0 for f in dataclasses.fields(markings.MarkingRates)})


@pytest.fixture(scope="module")
def chorale_part():
    return corpus.parse("bach/bwv94.8").parts[0]  # the soprano, with its corpus lyrics


def test_the_corpus_markings_are_kept_and_the_label_is_the_clean_segments(chorale_part):
    plain = segments.standalone_segment(chorale_part, 1, 4)
    kept = segments.standalone_segment(chorale_part, 1, 4, keep_markings=True)
    assert not any(n.lyrics for n in plain.recurse().notes)
    assert any(n.lyrics for n in kept.recurse().notes)  # the chorale's own text
    assert stream_to_tokens(segments.cleaned(kept)) == stream_to_tokens(plain)


def test_decorate_draws_every_kind_and_leaves_the_notes(chorale_part):
    seg = segments.standalone_segment(chorale_part, 1, 4, keep_markings=True)
    before = stream_to_tokens(segments.cleaned(seg))
    sung = {lyric.number for n in seg.recurse().notes for lyric in n.lyrics}
    drawn = markings.decorate(seg, random.Random(0), EVERYTHING)
    assert {"lyrics x2", "dynamics", "hairpin", "slurs", "articulations", "ornaments", "repeat barlines", "volta",
            "tempo", "text", "part name", "measure numbers"} <= set(drawn["kinds"])
    assert drawn["measure_numbers"] is True
    verses = {lyric.number for n in seg.recurse().notes for lyric in n.lyrics}
    assert len(verses) == len(sung) + 2 and min(verses - sung) > max(sung)  # two verses under the chorale's
    xml = segments.to_musicxml(copy.deepcopy(seg))
    for element in ("<lyric", "<dynamics", "<wedge", "<slur", "<articulations>", "<ornaments>", "<repeat",
                    "<ending", "<words", "<part-name>"):
        assert element in xml, element
    assert stream_to_tokens(segments.cleaned(seg)) == before


def test_a_marked_sample_keeps_the_label_of_the_bare_one(chorale_part, tmp_path):
    options = {"max_tokens": 60, "scale": 60}
    seg = segments.standalone_segment(chorale_part, 1, 4, keep_markings=True)
    bare = staff._make_sample(segments.cleaned(seg), "bare", "Leipzig", tmp_path, options)
    marked = staff._make_sample(seg, "marked", "Leipzig", tmp_path, options,
                                marking=(random.Random(1), EVERYTHING))
    assert marked["tokens"] == bare["tokens"] and marked["markings"]
    assert marked["height"] > bare["height"]  # lyrics under and marks above the staff


def test_recipe_rates_are_checked():
    assert markings.MarkingRates.from_recipe(None) is None
    assert markings.MarkingRates.from_recipe({"lyrics": 0.9}).lyrics == 0.9
    with pytest.raises(ValueError, match="unknown keys \\['lyric'\\]"):
        markings.MarkingRates.from_recipe({"lyric": 0.9})
    with pytest.raises(ValueError, match="probabilities"):
        markings.MarkingRates.from_recipe({"slurs": 1.5})


def test_a_markings_build_reports_what_it_drew(tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({
        "collections": ["bach"], "segment_measures": [2, 3], "max_segments_per_part": 1, "max_tokens": 60,
        "fonts": ["Leipzig"], "scale": 60, "seed": 5, "markings": {"probability": 1.0}}))
    report = staff.build_dataset(tmp_path / "out", limit=4, workers=1, recipe=recipe)
    assert report["records"] == 4 and report["markings"]["decorated"] == 4
