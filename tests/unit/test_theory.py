"""Where a musician takes a note's accidental from."""

import pytest

from zoo.notation.theory import accidental_source

FIXTURE_PNG = "000051652-1_2_1.png"


def test_accidental_source_follows_how_a_musician_reads_the_staff():
    staff = ["clef-G2", "keySignature-DM", "timeSignature-3/4", "note-F#4_quarter", "note-F#5_quarter",
             "note-C4_quarter", "tie", "barline", "note-C4_quarter", "note-C4_quarter", "note-C#4_quarter", "barline",
             "note-Bb4_quarter", "note-Bb4_quarter", "note-B4_quarter", "barline", "gracenote-F4_eighth",
             "note-F4_quarter", "note-F#4_half"]
    sources = {i: accidental_source(staff, i) for i, t in enumerate(staff) if t.startswith(("note", "grace"))}
    assert sources == {
        3: "key signature", 4: "key signature",  # a key's sharp holds in every octave
        5: "on the note",  # C natural in D major needs its sign
        8: "carried",  # tied over the bar line
        9: "on the note", 10: "on the note",  # the tie carries one note only; C# again needs a sign after the natural
        12: "on the note", 13: "carried", 14: "on the note",  # B flat is printed, holds, and a natural cancels it
        16: "on the note", 17: "carried", 18: "on the note",  # a grace note's accidental holds for the bar too
    }
    with pytest.raises(ValueError, match="not a note"):
        accidental_source(staff, 0)
