"""PrIMuS semantic encoding: the real PrIMuS sample, round trips, corpus material, errors."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from music21 import chord, clef, converter, corpus, duration, key, meter, note, stream

from zoo.notation.decoder import tokens_to_stream
from zoo.notation.encoder import stream_to_tokens
from zoo.notation.readers import encode_file, read_semantic, write_semantic
from zoo.notation.tokens import EXTENSION_TOKENS, EncodingError, is_grammatical
from zoo.notation.vocabulary import load_vocabulary, out_of_vocabulary

SAMPLE = "000051652-1_2_1"


def _tokens(text: str) -> list[str]:
    return text.split()


def _via_musicxml(tokens: list[str], tmp_path: Path) -> list[str]:
    """Tokens -> Part -> MusicXML (and MIDI) on disk -> music21 -> tokens."""
    part = tokens_to_stream(tokens)
    xml = Path(part.write("musicxml", fp=tmp_path / "staff.musicxml"))
    midi = Path(part.write("midi", fp=tmp_path / "staff.mid"))
    assert midi.stat().st_size > 0
    return encode_file(xml)


# ------------------------------------------------------------------------------------------ the PrIMuS sample


def test_encode_primus_mei_gives_its_semantic_file(primus_fixture):
    expected = read_semantic(primus_fixture / f"{SAMPLE}.semantic")
    assert expected[:4] == ["clef-C1", "keySignature-EbM", "timeSignature-2/4", "multirest-23"]
    assert encode_file(primus_fixture / f"{SAMPLE}.mei") == expected


def test_semantic_file_bytes_round_trip(primus_fixture, tmp_path):
    original = primus_fixture / f"{SAMPLE}.semantic"
    tokens = read_semantic(original)
    write_semantic(tokens, tmp_path / "copy.semantic")
    assert (tmp_path / "copy.semantic").read_bytes() == original.read_bytes()  # tab after every token, no newline
    (tmp_path / "newline.semantic").write_text("\t".join(tokens) + "\t\n")
    assert read_semantic(tmp_path / "newline.semantic") == tokens


def test_primus_sample_round_trips(primus_fixture, tmp_path):
    tokens = read_semantic(primus_fixture / f"{SAMPLE}.semantic")
    assert stream_to_tokens(tokens_to_stream(tokens)) == tokens
    assert _via_musicxml(tokens, tmp_path) == tokens


def test_multirest_becomes_measures_of_rest(primus_fixture):
    part = tokens_to_stream(read_semantic(primus_fixture / f"{SAMPLE}.semantic"))
    measures = list(part.getElementsByClass(stream.Measure))
    assert len(measures) == 23 + 4
    assert part.highestTime == pytest.approx((23 + 4) * 2.0)  # 2/4 bars: MIDI gets the real length


# ------------------------------------------------------------------------------------------ vocabulary


def test_vocabulary_loads_and_is_grammatical():
    vocabulary = load_vocabulary()
    assert len(vocabulary) == 1781 and len(set(vocabulary)) == 1781
    assert {"barline", "tie", "clef-G2", "keySignature-F#M", "timeSignature-C/", "multirest-23"} <= set(vocabulary)
    assert all(is_grammatical(token) for token in vocabulary)
    assert out_of_vocabulary(["clef-G2", "note-F##4_quarter", "keySignature-CbM", "note-F##4_quarter"]) == [
        "note-F##4_quarter",
        "keySignature-CbM",
    ]
    assert EXTENSION_TOKENS


def test_every_vocabulary_token_decodes_and_re_encodes():
    for token in load_vocabulary():
        if token in ("tie", "barline"):
            continue
        tokens = ([] if token.startswith("clef-") else ["clef-G2"]) + [token, "barline"]
        assert stream_to_tokens(tokens_to_stream(tokens)) == tokens, token


# ------------------------------------------------------------------------------------------ hand-written sequences

CLEFS = ["clef-G1", "clef-G2", "clef-F3", "clef-F4", "clef-F5", "clef-C1", "clef-C2", "clef-C3", "clef-C4", "clef-C5"]

HAND_WRITTEN = {
    "clef changes": " ".join(f"{c} note-C4_half note-D4_half barline" for c in CLEFS),
    "sharp and flat keys": "clef-G2 keySignature-AM timeSignature-3/4 note-C#5_quarter note-G#4_half barline "
    "keySignature-DbM note-Db5_quarter note-Gb4_half barline keySignature-CM note-C5_half. barline",
    "accidentals against the key": "clef-G2 keySignature-GM timeSignature-4/4 note-F4_quarter note-F#4_quarter "
    "note-C5_quarter note-Bb4_quarter barline keySignature-CM note-C#5_quarter note-C5_quarter note-E#4_half barline",
    "accidentals carried through a measure": "clef-G2 keySignature-CM timeSignature-4/4 note-F#4_quarter "
    "note-F#4_quarter note-F4_quarter note-F#4_quarter barline note-F4_quarter note-Bb4_quarter note-Bb4_quarter "
    "note-B4_quarter barline",
    "dots": "clef-F4 keySignature-BbM timeSignature-4/4 note-F3_half.. note-G3_eighth barline note-A3_quarter. "
    "note-Bb3_eighth note-C4_eighth.. note-D4_thirty_second rest-quarter barline rest-quarter.. note-Eb3_sixteenth "
    "note-F3_half barline",
    "ties across barlines": "clef-G2 keySignature-FM timeSignature-2/4 note-A4_quarter note-C5_quarter tie barline "
    "note-C5_half tie barline note-C5_eighth note-Bb4_eighth tie note-Bb4_quarter barline",
    "grace notes": "clef-G2 keySignature-DM timeSignature-6/8 gracenote-E5_sixteenth note-D5_quarter. "
    "gracenote-G5_eighth gracenote-F#5_eighth note-E5_quarter note-D5_eighth barline note-A4_quarter. rest-quarter. "
    "barline",
    "fermatas": "clef-C3 keySignature-EbM timeSignature-3/4 note-G4_half note-F4_quarter_fermata barline "
    "rest-quarter_fermata note-Eb4_half_fermata barline note-F4_half._fermata barline rest-whole_fermata barline",
    "C and cut C": "clef-G2 keySignature-CM timeSignature-C note-C5_whole barline timeSignature-C/ "
    "note-D5_whole barline timeSignature-4/4 note-E5_whole barline timeSignature-4/2 note-F5_double_whole barline",
    "multirests and measure rests": "clef-C4 keySignature-AbM timeSignature-3/4 multirest-4 barline rest-whole "
    "barline note-Ab3_half. barline multirest-1 barline rest-half. barline multirest-12 barline",
    "short values": "clef-G2 keySignature-CM timeSignature-1/4 note-C5_sixty_fourth note-D5_sixty_fourth "
    "note-E5_thirty_second. note-F5_hundred_twenty_eighth note-G5_hundred_twenty_eighth note-A5_eighth barline",
    "no closing barline": "clef-G2 keySignature-CM timeSignature-4/4 note-C5_whole barline note-D5_quarter",
}


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_hand_written_round_trip(name, tmp_path):
    tokens = _tokens(HAND_WRITTEN[name])
    assert all(is_grammatical(token) for token in tokens)
    assert stream_to_tokens(tokens_to_stream(tokens)) == tokens
    assert _via_musicxml(tokens, tmp_path) == tokens


@pytest.mark.parametrize("initial", CLEFS)
def test_every_clef_opens_a_staff(initial):
    tokens = [initial, "keySignature-CM", "timeSignature-2/4", "note-C4_half", "barline"]
    assert stream_to_tokens(tokens_to_stream(tokens)) == tokens


def test_decoded_pitches_and_durations():
    part = tokens_to_stream(_tokens(HAND_WRITTEN["accidentals against the key"]))
    names = [n.pitch.nameWithOctave for n in part.recurse().notes]
    assert names == ["F4", "F#4", "C5", "B-4", "C#5", "C5", "E#4"]
    assert isinstance(part.recurse().getElementsByClass(key.KeySignature).first(), key.KeySignature)
    ties = [n.tie.type if n.tie else None for n in tokens_to_stream(_tokens(HAND_WRITTEN["ties across barlines"]))
            .recurse().notes]
    assert ties == [None, "start", "continue", "stop", "start", "stop"]
    grace = tokens_to_stream(_tokens(HAND_WRITTEN["grace notes"])).recurse().notes.first()
    assert grace.duration.isGrace and grace.duration.type == "16th"


def test_musicxml_shows_only_the_accidentals_a_reader_needs(tmp_path):
    tokens = _tokens("clef-G2 keySignature-GM timeSignature-4/4 note-F4_quarter note-F#4_quarter note-F#4_quarter "
                     "note-F4_quarter barline note-F#4_whole barline")
    xml = Path(tokens_to_stream(tokens).write("musicxml", fp=tmp_path / "acc.musicxml")).read_text()
    # F natural, F sharp, (F sharp carried), F natural | courtesy sharp after the natural of the previous bar
    assert re.findall(r"<accidental[^>]*>(\w+)</accidental>", xml) == ["natural", "sharp", "natural", "sharp"]


def test_measure_rest_lasts_the_bar():
    part = tokens_to_stream(_tokens("clef-G2 keySignature-CM timeSignature-3/4 rest-whole barline"))
    rest = part.recurse().notesAndRests.first()
    assert rest.fullMeasure is True and rest.quarterLength == 3.0


# ------------------------------------------------------------------------------------------ music21 input


def test_rest_filling_the_bar_is_encoded_as_music21_engraves_it(tmp_path):
    """music21 exports a bar-long 'auto' rest as a measure rest: the label must say rest-whole too."""
    part = _part([note.Rest(type="half")], signature="2/4")
    tokens = stream_to_tokens(part)
    assert tokens[3] == "rest-whole"
    assert encode_file(part.write("musicxml", fp=tmp_path / "auto.musicxml")) == tokens
    part.recurse().notesAndRests.first().fullMeasure = False
    assert stream_to_tokens(part)[3] == "rest-half"



def _part(*measures: list, signature: str = "4/4", sharps: int = 0) -> stream.Part:
    part = stream.Part()
    for number, content in enumerate(measures, start=1):
        m = stream.Measure(number=number)
        if number == 1:
            m.append([clef.TrebleClef(), key.KeySignature(sharps), meter.TimeSignature(signature)])
        m.append(content)
        part.append(m)
    return part


def test_key_signature_accidentals_are_spelled_from_sounding_pitch():
    part = _part([note.Note("B-4", type="half"), note.Note("E-5", type="quarter"), note.Note("B4")], sharps=-3)
    assert stream_to_tokens(part) == [
        "clef-G2", "keySignature-EbM", "timeSignature-4/4",
        "note-Bb4_half", "note-Eb5_quarter", "note-B4_quarter", "barline",
    ]  # fmt: skip


def test_minor_key_is_named_by_its_relative_major():
    part = _part([note.Note("C5", type="whole")])
    part.measure(1).replace(part.measure(1).keySignature, key.Key("c"))
    assert stream_to_tokens(part)[1] == "keySignature-EbM"


def test_score_measure_list_and_unmeasured_inputs():
    part = _part([note.Note("C5", type="whole")], [note.Note("D5", type="whole")])
    score = stream.Score([part])
    expected = stream_to_tokens(part)
    assert stream_to_tokens(score) == expected
    assert stream_to_tokens(list(part.getElementsByClass(stream.Measure))) == expected
    flat = stream.Part([clef.TrebleClef(), key.KeySignature(0), meter.TimeSignature("4/4"),
                        note.Note("C5", type="whole"), note.Note("D5", type="whole")])
    assert stream_to_tokens(flat) == expected
    assert stream_to_tokens(list(part.getElementsByClass(stream.Measure))[1:])[:3] == expected[:3]  # context restated


def test_chord_raises_unless_top_is_asked():
    part = _part([chord.Chord(["E4", "C5"], type="half"), note.Note("D5", type="half")])
    with pytest.raises(EncodingError, match="measure 1.*chord"):
        stream_to_tokens(part)
    assert stream_to_tokens(part, chords="top")[3:5] == ["note-C5_half", "note-D5_half"]


def test_tuplets_and_odd_durations_raise():
    triplet = [note.Note("C5", type="eighth") for _ in range(3)]
    for n in triplet:
        n.duration.appendTuplet(duration.Tuplet(3, 2))
    with pytest.raises(EncodingError, match="tuplet"):
        stream_to_tokens(_part(triplet + [note.Note("D5", type="half", dots=1)]))
    with pytest.raises(EncodingError, match="quarters"):
        stream_to_tokens(_part([note.Note("C5", quarterLength=1.25), note.Note("C5", quarterLength=2.75)]))


def test_voices():
    def measure(with_second_voice_notes: bool) -> stream.Part:
        upper = stream.Voice([note.Note("C5", type="whole")])
        lower = stream.Voice([note.Note("C4", type="whole") if with_second_voice_notes else note.Rest(type="whole")])
        return _part([upper, lower])

    with pytest.raises(EncodingError, match="2 voices"):
        stream_to_tokens(measure(True))
    assert stream_to_tokens(measure(False))[3:] == ["note-C5_whole", "barline"]


def test_octave_clef_is_an_extension_token():
    part = _part([note.Note("C4", type="whole")])
    part.measure(1).replace(part.measure(1).clef, clef.Treble8vbClef())
    tokens = stream_to_tokens(part)
    assert tokens[0] == "clef-G2_8vb" and out_of_vocabulary(tokens) == ["clef-G2_8vb"]
    assert stream_to_tokens(tokens_to_stream(tokens)) == tokens


# ------------------------------------------------------------------------------------------ MEI repairs

MEI = """<?xml version="1.0" encoding="UTF-8"?>
<mei xmlns="http://www.music-encoding.org/ns/mei" meiversion="4.0.0"><music><body><mdiv><score>
  <scoreDef key.sig="1s" meter.sym="common" meter.count="4" meter.unit="4">
    <staffGrp><staffDef n="1" lines="5" clef.shape="G" clef.line="2"/></staffGrp>
  </scoreDef>
  <section>
    <measure n="1"><staff n="1"><layer n="1">
      <note xml:id="a1" pname="f" oct="4" dur="4"/>
      <note xml:id="a2" pname="c" oct="5" dur="4" accid="s"/>
      <note xml:id="a3" pname="c" oct="5" dur="4"/>
      <note xml:id="a4" pname="c" oct="4" dur="8"/>
      <note xml:id="a5" pname="f" oct="4" dur="8" accid="n" tie="i"/>
    </layer></staff><fermata startid="#a3"/></measure>
    <measure n="2"><staff n="1"><layer n="1">
      <note xml:id="b1" pname="f" oct="4" dur="4" tie="t"/>
      <note xml:id="b2" pname="g" oct="4" dur="8" grace="unacc"/>
      <note xml:id="b3" pname="f" oct="4" dur="4" dots="1"/>
      <rest xml:id="b4" dur="8" fermata="above"/>
      <note xml:id="b5" pname="b" oct="4" dur="4" accid="f"/>
    </layer></staff></measure>
    <measure n="3"><staff n="1"><layer n="1"><mRest/></layer></staff></measure>
    <measure n="4"><staff n="1"><layer n="1"><multiRest num="7"/></layer></staff></measure>
  </section>
</score></mdiv></body></music></mei>
"""


def test_mei_implied_accidentals_fermatas_grace_and_rests(tmp_path):
    path = tmp_path / "staff.mei"
    path.write_text(MEI)
    assert encode_file(path) == _tokens(
        "clef-G2 keySignature-GM timeSignature-C "
        "note-F#4_quarter note-C#5_quarter note-C#5_quarter_fermata note-C4_eighth note-F4_eighth tie barline "
        "note-F4_quarter gracenote-G4_eighth note-F#4_quarter. rest-eighth_fermata note-Bb4_quarter barline "
        "rest-whole barline multirest-7 barline"
    )


# ------------------------------------------------------------------------------------------ corpus material

CORPUS = [
    ("bach/bwv66.6", {}),  # soprano: fermatas, F# minor signature
    ("essenFolksong/altdeu10", {"number": 1}),  # 4/2, Bb against G major
    ("ryansMammoth/SoldiersJoy", {}),  # sixteenths, pickup
    ("ryansMammoth/AnnieHughesJig", {}),  # grace notes
]


@pytest.mark.parametrize(("work", "options"), CORPUS, ids=[work for work, _ in CORPUS])
def test_corpus_round_trip(work, options, tmp_path):
    score = corpus.parse(work, **options)
    measures = list(score.parts[0].getElementsByClass(stream.Measure))[:8]
    tokens = stream_to_tokens(measures)
    assert tokens[0].startswith("clef-") and tokens.count("barline") == 8
    assert all(is_grammatical(token) for token in out_of_vocabulary(tokens))
    assert stream_to_tokens(tokens_to_stream(tokens)) == tokens
    assert _via_musicxml(tokens, tmp_path) == tokens
    if work == "ryansMammoth/AnnieHughesJig":
        assert any(token.startswith("gracenote-") for token in tokens)


def test_humdrum_part_encodes():
    path = next(p for p in corpus.getComposer("bach") if p.name == "bwv277.krn")
    tokens = encode_file(path, part=2)
    assert tokens[:3] == ["clef-G2_8vb", "keySignature-CM", "timeSignature-4/4"]
    assert stream_to_tokens(tokens_to_stream(tokens)) == tokens


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "bad", ["note-H4_quarter", "note-C4_quaver", "note-C4_quarter...", "rest-", "keySignature-Am", "multirest-0", "x"]
)
def test_unknown_token_raises_naming_it(bad):
    with pytest.raises(EncodingError, match=re.escape(repr(bad))):
        tokens_to_stream(["clef-G2", bad, "barline"])


def test_tie_must_follow_a_note():
    with pytest.raises(EncodingError, match="'tie'"):
        tokens_to_stream(["clef-G2", "rest-quarter", "tie", "note-C4_quarter"])


def test_unreadable_files_raise(tmp_path, primus_fixture):
    garbage = tmp_path / "garbage.musicxml"
    garbage.write_bytes(b"\x00\x01 not music")
    with pytest.raises(EncodingError, match="cannot read"):
        encode_file(garbage)
    with pytest.raises(EncodingError, match="no such file"):
        encode_file(tmp_path / "missing.mei")
    broken = tmp_path / "broken.mei"
    broken.write_text("<mei><music>")
    with pytest.raises(EncodingError, match="well-formed"):
        encode_file(broken)
    with pytest.raises(EncodingError, match="part 3 is out of range"):
        encode_file(primus_fixture / f"{SAMPLE}.mei", part=3)


def test_music21_reads_what_we_write(tmp_path, primus_fixture):
    """The MusicXML carries the multi-measure rest as <multiple-rest>, so other tools see 23 bars."""
    part = tokens_to_stream(read_semantic(primus_fixture / f"{SAMPLE}.semantic"))
    xml = Path(part.write("musicxml", fp=tmp_path / "sample.musicxml"))
    assert re.search(r"<multiple-rest[^>]*>23</multiple-rest>", xml.read_text())
    assert len(converter.parse(xml).parts[0].getElementsByClass(stream.Measure)) == 27


def test_every_vocabulary_token_parses_once_into_its_fields():
    from zoo.notation.tokens import KINDS, Token, bar_units, duration_units, note_pitch, parse

    for text in load_vocabulary():
        token = parse(text)
        assert token is not None and token.kind in KINDS and token.text == text
        assert text.startswith(token.kind)
        if token.is_note:
            assert text == f"{token.kind}-{token.pitch}_{token.duration}{'.' * token.dots}" \
                           f"{'_fermata' if token.fermata else ''}"
            assert note_pitch(text) == (token.step, token.octave, token.alter)
        if token.kind == "timeSignature":
            assert bar_units(text) == token.numerator * 4 * 128 // token.denominator
        if token.kind == "note":
            assert duration_units(text) is not None
    assert parse("note-C#5_quarter._fermata") == Token("note-C#5_quarter._fermata", "note", step="C", alter=1,
                                                         octave=5, duration="quarter", dots=1, fermata=True)
    assert parse("keySignature-EbM").fifths == -3 and parse("timeSignature-C/").numerator == 2
    assert parse("multirest-23").count == 23 and parse("clef-C1").clef == "C1"
    assert parse("note-H4_quarter") is None and parse("") is None
