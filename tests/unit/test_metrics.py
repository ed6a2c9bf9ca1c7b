"""Error rates and their breakdown by token type, pitch part and opening signature."""

import pytest

from zoo.metrics import ErrorRates, edit_ops

FIXTURE_PNG = "000051652-1_2_1.png"


def test_symbol_error_rate_and_breakdown():
    ops = edit_ops(["clef-G2", "note-A4_quarter", "barline"], ["clef-G2", "note-B4_eighth", "barline", "barline"])
    assert [op for op, _, _ in ops] == ["match", "sub", "ins", "match"]
    rates = ErrorRates()
    rates.add(["clef-G2", "note-A4_quarter", "barline"], ["clef-G2", "note-B4_eighth", "barline", "barline"])
    rates.add(["barline"], ["barline"])
    s = rates.summary()
    assert s["ser"] == pytest.approx(2 / 4) and s["sequence_error_rate"] == 0.5
    assert s["errors_by_type"]["pitch"] == 1 and s["errors_by_type"]["duration"] == 1
    assert s["errors_by_type"]["barline"] == 1
    assert s["pitch_errors"] == {"accidental from the key signature": 0, "accidental carried in the bar": 0,
                                 "accidental printed on the note": 0, "position": 1, "note missing or extra": 0}


def test_multirests_are_counted_by_how_they_were_read():
    head = ["clef-G2", "keySignature-CM", "timeSignature-4/4"]
    rates = ErrorRates()
    rates.add(head + ["multirest-4", "barline"], head + ["multirest-4", "barline"])
    rates.add(head + ["multirest-23", "barline"], head + ["multirest-18", "barline"])
    rates.add(head + ["multirest-23", "barline"], head + ["barline"])
    rates.add(head + ["multirest-16", "barline"], head + ["note-B4_eighth", "barline"])
    assert rates.summary()["multirests"] == {"2-15 bars": {"right": 1, "other count": 0, "missed": 0},
                                             "16+ bars": {"right": 0, "other count": 1, "missed": 2}}


def test_pitch_errors_say_which_part_of_the_pitch_was_misread():
    rates = ErrorRates()
    rates.add(["note-G#4_half", "note-G#4_half", "note-A4_whole"], ["note-G#4_half", "note-G4_half", "note-C5_whole"])
    rates.add(["note-Bb3_quarter", "gracenote-C4_eighth"], ["note-Bb3_quarter"])
    rates.add(["note-G4_half", "note-Bb4_quarter"], ["rest-half", "note-B4_quarter"])  # a note read as a rest
    rates.add(["note-G4_half"], ["gracenote-G4_half"])
    rates.add(["keySignature-DM", "note-F#4_half", "barline", "note-C#5_half"], ["keySignature-DM", "note-F#4_half",
                                                                                  "barline", "note-C5_half"])
    assert rates.summary()["pitch_errors"] == {
        "accidental from the key signature": 1, "accidental carried in the bar": 1, "accidental printed on the note": 1,
        "position": 1, "note missing or extra": 3}


def test_staves_are_grouped_by_the_signature_they_open_with():
    from zoo.training.omr import opening_group

    staff = ["clef-C1", "keySignature-EbM", "timeSignature-2/4", "note-Bb4_eighth", "barline", "keySignature-AbM"]
    assert opening_group(staff, "key") == "keySignature-EbM"
    assert opening_group(staff, "clef") == "clef-C1"
    # a key change later in the staff is not the key it opens in
    assert opening_group(["clef-G2", "note-C4_half", "barline", "keySignature-GM"], "key") == "no keySignature"
