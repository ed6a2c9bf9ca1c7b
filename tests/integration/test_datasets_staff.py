"""Staff dataset: a small real build from the music21 corpus, its layout, labels, splits and resumability."""
import io
import json
import random
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.conftest import STAFF_LIMIT as LIMIT
from zoo.datasets import build, corpus, primus, staff, tfrecords
from zoo.notation.decoder import tokens_to_stream
from zoo.notation.encoder import stream_to_tokens
from zoo.notation.printing import unreadable_notes
from zoo.notation.readers import encode_file, parse_file, read_semantic
from zoo.notation.vocabulary import load_vocabulary


def test_split_contract():
    import hashlib

    for pid in ["bach/bwv66.6.mxl", "essenFolksong/altdeu10.abc#3", "ryansMammoth/42dHighlandRegimentStrathspey.abc"]:
        bucket = int(hashlib.sha1(pid.encode()).hexdigest(), 16) % 10
        assert corpus.split_of(pid) == {0: "test", 1: "validation"}.get(bucket, "train")
    counts = defaultdict(int)
    for i in range(5000):
        counts[corpus.split_of(f"x/{i}")] += 1
    assert 400 < counts["test"] < 600 and 400 < counts["validation"] < 600


def test_one_format_per_work():
    relpaths = [f.relpath for f in corpus.collection_files("beethoven")]
    stems = [p.rsplit(".", 1)[0] for p in relpaths]
    assert len(stems) == len(set(stems))
    assert "beethoven/opus18no1/movement1.mxl" in relpaths


def test_build_report_and_layout(staff_build):
    out, report = staff_build
    assert report["records"] == LIMIT
    assert sum(report["tfrecords"].values()) == LIMIT
    results = build.load_results(out)
    records = sorted((r for res in results for r in res.records), key=lambda r: r["id"])[:LIMIT]
    for r in records:
        folder = out / "samples" / r["id"]
        png = (folder / f"{r['id']}.png").read_bytes()
        assert Image.open(io.BytesIO(png)).mode == "L"
        assert Image.open(io.BytesIO(png)).size == (r["width"], r["height"])
        assert read_semantic(folder / f"{r['id']}.semantic") == r["tokens"]
        assert (folder / f"{r['id']}.musicxml").stat().st_size > 0
        assert r["font"] in ("Leipzig", "Bravura", "Gootville")
    saved = json.loads((out / "build_report.json").read_text())
    assert saved["records"] == LIMIT and "skips" in saved and "wall_seconds" in saved


def test_tokens_are_primus_vocabulary_or_reported_extensions(staff_build):
    out, report = staff_build
    vocab = set(load_vocabulary())
    oov = defaultdict(int)
    for ex in tfrecords.iter_examples(out, "train", "staff"):
        for t in ex["tokens"]:
            if t.decode() not in vocab:
                oov[t.decode()] += 1
    reported = report["vocabulary"]["out_of_primus_vocabulary"]
    for token, n in oov.items():
        assert reported[token] >= n


def test_round_trip_every_built_sample(staff_build):
    out, _ = staff_build
    for res in build.load_results(out):
        for r in res.records:
            assert stream_to_tokens(tokens_to_stream(r["tokens"])) == r["tokens"], r["id"]


def test_splits_are_disjoint_by_piece(staff_build):
    out, _ = staff_build
    seen: dict[str, str] = {}
    for split in tfrecords.SPLITS:
        try:
            examples = list(tfrecords.iter_examples(out, split, "staff"))
        except FileNotFoundError:
            continue
        for ex in examples:
            pid = ex["piece_id"].decode()
            assert corpus.split_of(pid) == split
            assert seen.setdefault(pid, split) == split, f"{pid} in {seen[pid]} and {split}"
    assert seen


def test_resume_skips_finished_items_and_refuses_other_settings(staff_build):
    out, report = staff_build
    again = staff.build_dataset(out, limit=LIMIT, workers=1)
    assert again["records"] == report["records"]
    assert again["vocabulary"] == report["vocabulary"]
    with pytest.raises(ValueError, match=r"other settings \(fonts\)"):
        staff.build_dataset(out, limit=LIMIT, fonts=["Bravura"])
    # a reworded recipe is the same build: it resumes, and the record takes the new wording
    reworded = out.parent / "reworded.json"
    reworded.write_text(json.dumps({**staff.recipes.load_recipe("staff"), "description": "reworded"}))
    assert staff.build_dataset(out, limit=LIMIT, workers=1, recipe=reworded)["records"] == report["records"]
    assert json.loads((out / "build_config.json").read_text())["description"] == "reworded"


def test_bad_score_is_skipped_with_reason(tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_text("<score-partwise><part id='P1'><measure>", encoding="utf-8")
    item = build.WorkItem("broken", (str(bad), "test"))
    results, _ = build.run_items("staff", [item], staff.build_item, tmp_path / "out",
                                 {**staff.recipes.load_recipe("staff")}, workers=1)
    assert results[0].records == []
    assert sum(results[0].skips.values()) == 1
    assert next(iter(results[0].skips)).startswith("item failed")


def test_primus_reader_on_fixture(primus_fixture, tmp_path):
    samples = list(primus.iter_samples(primus_fixture))
    assert [s.sample_id for s in samples] == ["000051652-1_2_1"]
    assert samples[0].tokens[:3] == ["clef-C1", "keySignature-EbM", "timeSignature-2/4"]
    assert samples[0].agnostic[0] == "clef.C-L1"
    counts = primus.write_tfrecords(primus_fixture, tmp_path)
    assert sum(counts.values()) == 1
    split = next(s for s, n in counts.items() if n)
    ex = next(tfrecords.iter_examples(tmp_path, split, "staff"))
    assert ex["width"] == 1041 and ex["height"] == 155
    with pytest.raises(FileNotFoundError):
        list(primus.iter_samples(tmp_path / "missing"))


def test_primus_reader_reads_our_staff_samples(staff_build):
    out, _ = staff_build
    assert len(list(primus.iter_samples(out / "samples"))) >= LIMIT


def test_cli_encode(primus_fixture, tmp_path):
    scorezoo = Path(sys.executable).with_name("scorezoo")
    mei = primus_fixture / "000051652-1_2_1.mei"
    bad = tmp_path / "bad.xml"
    bad.write_text("not a score")
    plain = subprocess.run([str(scorezoo), "data", "encode", str(mei)], capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip().split("\t") == read_semantic(primus_fixture / "000051652-1_2_1.semantic")
    js = subprocess.run([str(scorezoo), "data", "encode", str(bad), str(mei), "--json"], capture_output=True, text=True)
    assert js.returncode != 0
    lines = [json.loads(line) for line in js.stdout.splitlines()]
    assert lines[0]["file"] == str(bad) and "error" in lines[0]
    assert lines[1]["tokens"][0] == "clef-C1"


def test_distorted_copy_of_a_split(staff_build):
    out, report = staff_build
    split = max(tfrecords.SPLITS, key=lambda s: report["tfrecords"][s])
    n = staff.write_distorted_split(out, split)
    assert n == report["tfrecords"][split]
    clean = list(tfrecords.iter_examples(out, split, "staff"))
    distorted = list(tfrecords.iter_examples(out, split + staff.DISTORTED_SUFFIX, "staff"))
    for a, b in zip(clean, distorted):
        assert list(a["tokens"]) == list(b["tokens"]) and a["sample_id"] == b["sample_id"]
        ia, ib = (np.asarray(Image.open(io.BytesIO(x["image"]))) for x in (a, b))
        assert ia.shape == ib.shape and not np.array_equal(ia, ib)
    staff.write_distorted_split(out, split)  # deterministic: the same bytes again
    again = list(tfrecords.iter_examples(out, split + staff.DISTORTED_SUFFIX, "staff"))
    assert [x["image"] for x in again] == [x["image"] for x in distorted]


def _chorale_segment():
    from music21 import corpus as m21corpus

    from zoo.datasets import segments

    return segments.standalone_segment(m21corpus.parse("bach/bwv66.6").parts[0], 1, 3)


def test_reclef_changes_only_the_clef_token():
    from zoo.datasets import segments

    before = stream_to_tokens(_chorale_segment())
    seen = set()
    for seed in range(12):
        seg = _chorale_segment()
        assert segments.reclef(seg, random.Random(seed))
        after = stream_to_tokens(seg)
        assert after[1:] == before[1:] and after[0] != before[0]
        seen.add(after[0])
    assert seen <= {f"clef-{c}" for c in segments.INCIPIT_CLEFS} and len(seen) > 2


def test_transpose_to_key_moves_notes_and_key_signature_together():
    from music21 import key

    from zoo.datasets import segments

    original = _chorale_segment()  # F# minor: three sharps, token keySignature-AM (PrIMuS names the relative major)
    before = stream_to_tokens(original)
    old_pitches = [p for n in original.recurse().notes for p in n.pitches]
    keys = set()
    for seed in range(10):
        seg = _chorale_segment()
        assert segments.transpose_to_key(seg, random.Random(seed), max_accidentals=6)
        after = stream_to_tokens(seg)
        keys.add(after[1])
        assert after[1] != before[1] and after[1].startswith("keySignature-")
        moved = segments.key_interval(3, key.Key(after[1].removeprefix("keySignature-")[:-1].replace("b", "-")).sharps)
        new_pitches = [p for n in seg.recurse().notes for p in n.pitches]
        # every note moved by the keys' interval, spelled in the new key; durations, bar lines and rests stay
        assert [q.ps - p.ps for p, q in zip(old_pitches, new_pitches)] == [moved.semitones] * len(old_pitches)
        assert [q.diatonicNoteNum - p.diatonicNoteNum for p, q in zip(old_pitches, new_pitches)] == \
            [moved.generic.directed - (1 if moved.generic.directed > 0 else -1)] * len(old_pitches)
        assert [t.split("_", 1)[-1] for t in after[2:]] == [t.split("_", 1)[-1] for t in before[2:]]
    assert len(keys) > 4


def test_a_staff_that_cannot_move_to_another_key_is_skipped_not_kept():
    from music21 import key

    from zoo.datasets import staff

    seg = _chorale_segment()
    for signature in list(seg.recurse().getElementsByClass(key.KeySignature)):
        signature.activeSite.remove(signature)
    with pytest.raises(ValueError, match="no single opening key signature"):
        staff._incipit_variation(seg, random.Random(0), {"transpose": {"probability": 1.0}})


def test_key_interval_is_at_most_a_tritone():
    from zoo.datasets import segments

    for sharps in range(-6, 7):
        for new in range(-6, 7):
            moved = segments.key_interval(sharps, new)
            assert abs(moved.semitones) <= 6
            assert segments.key.KeySignature(sharps).transpose(moved).sharps == new


def test_opening_multirest_is_labelled_and_engraved_without_a_stray_clef():
    from zoo.datasets import engrave, segments

    seg = segments.with_multirest(_chorale_segment(), 23)
    tokens = stream_to_tokens(seg)
    assert tokens[:5] == ["clef-G2", "keySignature-AM", "timeSignature-C", "multirest-23", "barline"]
    mei = engrave.load(segments.to_musicxml(seg)).getMEI()
    assert 'num="23"' in mei
    # Verovio's MusicXML import repeats the clef inside the rest's layer and draws it after the rest
    assert mei.count("<clef ") == 1


def test_multirest_drawn_at_the_width_the_recipe_draws(tmp_path):
    """PrIMuS' Verovio drew multi-measure rests short; a recipe's ``multirest.width`` draws them at other lengths."""
    from zoo.datasets import engrave, segments

    seg = segments.with_multirest(_chorale_segment(), 23)
    xml = segments.to_musicxml(seg)
    default, short, long = (engrave.engrave(xml, multirest_width=w) for w in (None, 2, 60))
    assert short.width < default.width < long.width
    assert short.height == default.height
    options = {"multirest": {"probability": 1.0, "max_count": 30, "width": [2, 40]}}
    varied, drawing = staff._incipit_variation(_chorale_segment(), random.Random(0), options)
    assert 2 <= drawing["multirest_width"] <= 40
    assert stream_to_tokens(varied)[3].startswith("multirest-")
    assert staff._incipit_variation(_chorale_segment(), random.Random(0), {})[1] == {}
    with pytest.raises(ValueError, match="multirest_width"):
        engrave.engrave(xml, multirest_width=0)
    bad = {**staff.recipes.load_recipe("staff-multirests"), "multirest": {"probability": 1.0, "max_count": 9,
                                                                        "width": [0, 9]}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="multirest width"):
        staff.build_dataset(tmp_path / "out", recipe=tmp_path / "bad.json")
    assert not (tmp_path / "out").exists()


ABC_TUNE = """X:1
T:carry
M:4/4
L:1/4
K:A
=c c B A | c4 |]

X:2
T:tied over the bar line
M:4/4
L:1/4
K:D
D E F =C- | C4 |]
"""


def test_abc_accidental_holds_to_the_end_of_the_bar(tmp_path):
    """ABC 2.1: "=c c" under K:A is C twice; the next bar's c is C# again from the key."""
    path = tmp_path / "tune.abc"
    path.write_text(ABC_TUNE, encoding="utf-8")
    first, second = parse_file(path).scores
    assert [n.nameWithOctave for n in first.recurse().notes] == ["C5", "C5", "B4", "A4", "C#5"]
    assert encode_file(path)[3:5] == ["note-C5_quarter", "note-C5_quarter"]
    # a tied note keeps its accidental over the bar line (music21 alone reads C# from the key)
    assert [n.nameWithOctave for n in second.recurse().notes][-2:] == ["C4", "C4"]
    tokens = stream_to_tokens(second.parts[0])
    assert tokens[6:10] == ["note-C4_quarter", "tie", "barline", "note-C4_whole"]


def _segment_from_notes(key_sharps: int, names: list[str]):
    from music21 import key, meter, note, stream

    m = stream.Measure(number=1)
    m.append([key.KeySignature(key_sharps), meter.TimeSignature("4/4")] + [note.Note(n) for n in names])
    part = stream.Part([m])
    for n in part.recurse().notes:
        if n.pitch.accidental is not None:
            n.pitch.accidental.displayStatus = False  # as a source that prints none of them
    return part


def test_unreadable_accidentals_are_found_and_printed():
    """A# and G-natural under no printed accidental read as A and G# in A major: both get printed, once per bar."""
    from music21 import musicxml

    from zoo.datasets import segments

    seg = _segment_from_notes(3, ["A4", "A#4", "A#4", "G4"])
    tokens = stream_to_tokens(seg)
    raw = musicxml.m21ToXml.GeneralObjectExporter(seg).parse().decode("utf-8")
    assert unreadable_notes(raw) == [1, 3]  # the second A# reads from the first once printed
    xml = segments.to_musicxml(seg)
    assert unreadable_notes(xml) == []
    assert xml.count("<accidental>") == 2
    assert stream_to_tokens(seg) == tokens  # printing a mark never changes the label


def test_readable_staff_is_exported_unchanged():
    from music21 import musicxml

    from zoo.datasets import segments

    seg = _chorale_segment()
    plain = musicxml.m21ToXml.GeneralObjectExporter(seg).parse().decode("utf-8")
    assert unreadable_notes(plain) == []
    same_ids = lambda xml: re.sub(r'"P[0-9a-f]+"', '"P"', xml)  # noqa: E731  music21 draws a random part id
    assert same_ids(segments.to_musicxml(seg)) == same_ids(plain)


def test_readability_follows_ties_and_key_changes():

    def note(step, alter, octave, acc=None, tie=None):
        return (f"<note><pitch><step>{step}</step><alter>{alter}</alter><octave>{octave}</octave></pitch>"
                + (f"<accidental>{acc}</accidental>" if acc else "") + (f'<tie type="{tie}"/>' if tie else "")
                + "</note>")

    xml = ("<score-partwise><part id='P1'>"
           "<measure number='1'><attributes><key><fifths>0</fifths></key></attributes>"
           + note("F", 1, 4, "sharp", "start") + "</measure>"
           "<measure number='2'>" + note("F", 1, 4, tie="stop") + note("F", 1, 4) + "</measure>"
           "<measure number='3'><attributes><key><fifths>-2</fifths></key></attributes>"
           + note("B", -1, 4) + note("E", 0, 5) + "</measure></part></score-partwise>")
    # tied F# carries its sharp over the bar line, the next F does not; E in B-flat major needs a natural
    assert unreadable_notes(xml) == [2, 4]


def test_tie_between_different_pitches_is_dropped_and_a_real_one_kept():
    """Some ABC sources write '-' between different notes; Verovio draws no tie there, so the label has none."""
    from music21 import meter, note, stream, tie

    from zoo.datasets import segments

    m1, m2 = stream.Measure(number=1), stream.Measure(number=2)
    notes = [note.Note(n, quarterLength=2) for n in ("D4", "E4", "E4", "F4")]
    notes[0].tie, notes[1].tie = tie.Tie("start"), tie.Tie("stop")  # D4 - E4: no tie
    notes[2].tie, notes[3].tie = tie.Tie("start"), tie.Tie("stop")  # E4 - F4 across the bar: no tie
    m1.append([meter.TimeSignature("4/4"), notes[0], notes[1]])
    m2.append([notes[2], notes[3]])
    seg = segments.standalone_segment(stream.Part([m1, m2]), 0, 2)
    assert "tie" not in stream_to_tokens(seg)

    notes = [note.Note("G4", quarterLength=2) for _ in range(4)]
    notes[1].tie, notes[2].tie = tie.Tie("start"), tie.Tie("stop")
    m1, m2 = stream.Measure(number=1), stream.Measure(number=2)
    m1.append([meter.TimeSignature("4/4"), notes[0], notes[1]])
    m2.append([notes[2], notes[3]])
    tokens = stream_to_tokens(segments.standalone_segment(stream.Part([m1, m2]), 0, 2))
    assert tokens.count("tie") == 1 and tokens[tokens.index("tie") - 1] == "note-G4_half"


def test_tie_from_an_explicit_natural_is_kept_and_a_next_tie_left_alone():
    from music21 import meter, note, pitch, stream, tie

    from zoo.datasets import segments

    notes = [note.Note(n, quarterLength=2) for n in ("C5", "C5", "C5", "C5")]
    notes[0].pitch.accidental = pitch.Accidental("natural")  # printed natural tied to a note without accidental
    notes[0].tie, notes[1].tie = tie.Tie("start"), tie.Tie("stop")
    notes[2].tie, notes[3].tie = tie.Tie("start"), tie.Tie("stop")
    m1, m2 = stream.Measure(number=1), stream.Measure(number=2)
    m1.append([meter.TimeSignature("4/4"), notes[0], notes[1]])
    m2.append([notes[2], notes[3]])
    tokens = stream_to_tokens(segments.standalone_segment(stream.Part([m1, m2]), 0, 2))
    assert tokens.count("tie") == 2

    notes = [note.Note(n, quarterLength=1) for n in ("D4", "E4", "E4", "F4")]
    notes[0].tie, notes[1].tie, notes[2].tie = tie.Tie("start"), tie.Tie("start"), tie.Tie("stop")
    m = stream.Measure(number=1)
    m.append([meter.TimeSignature("4/4")] + notes)
    tokens = stream_to_tokens(segments.standalone_segment(stream.Part([m]), 0, 1))
    # D4-E4 is no tie; E4's own tie to the next E4 stays
    start = tokens.index("note-D4_quarter")
    assert tokens[start:start + 4] == ["note-D4_quarter", "note-E4_quarter", "tie", "note-E4_quarter"]


def test_fixed_subset_ignores_the_global_seed():
    ds = tf.data.Dataset.range(50)
    drawn = []
    for global_seed in (0, 12):
        tf.random.set_seed(global_seed)
        drawn.append(list(tfrecords.fixed_subset(ds, 10).as_numpy_iterator()))
    assert drawn[0] == drawn[1] and len(set(drawn[0])) == 10 and drawn[0] != list(range(10))
    assert list(tfrecords.fixed_subset(ds, 80).as_numpy_iterator()) == list(range(50))
