"""Does an engraved staff show the pitches of its label? Its printed accidentals read the way a musician reads them.

A staff image and its semantic label are a fair training pair only if a reader gets each labelled (sounding)
pitch from what is printed: an accidental on the note, else the note it is tied from, else an accidental earlier
in the bar on the same line or space, else the key signature (the rules :func:`zoo.notation.readers.encode_file`
applies to MEI's unspelled notes). Sources break this in ways that are easy to miss: MusicXML files whose
``<accidental>`` marks were placed for another layout, segments cut out of a bar's context. Every engraved
segment goes through :func:`zoo.datasets.segments.to_musicxml`, which finds such notes with
:func:`unreadable_notes` and prints their accidentals (:func:`print_accidentals`).

Both functions take one-voice staves of pitched notes (what the semantic encoding accepts), so the n-th
``<note>`` of the MusicXML that is not a chord member is the n-th of music21's ``recurse().notes``; anything
else fails safe, as the segment's check after printing raises.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from music21 import pitch, stream

from zoo.notation.theory import key_alter

PRINTED_ALTER = {"sharp": 1, "flat": -1, "natural": 0, "double-sharp": 2, "sharp-sharp": 2, "flat-flat": -2}


def unreadable_notes(musicxml: str) -> list[int]:
    """Indexes of the pitched notes (chord members after the first not counted, as in music21's
    ``recurse().notes``) whose printed accidentals, tie and key signature give another pitch than they sound.

    A flagged note counts as printed for the rest of its bar, so printing the flagged accidentals
    (:func:`print_accidentals`) makes the whole staff readable with one mark per pitch and bar.
    """
    root = ET.fromstring(musicxml)
    bad: list[int] = []
    index, fifths, previous = -1, 0, None
    for measure in root.iter("measure"):
        printed_in_bar: dict[tuple[str, str], int] = {}
        for element in measure:
            if element.tag == "attributes" and element.find("key/fifths") is not None:
                fifths = int(element.findtext("key/fifths"))
            if element.tag != "note" or element.find("pitch") is None:
                continue
            if element.find("chord") is None:
                index += 1
            p = element.find("pitch")
            place = (p.findtext("step"), p.findtext("octave"))
            sounding = float(p.findtext("alter") or 0)
            printed = PRINTED_ALTER.get(element.findtext("accidental") or "")
            tied_from = any(t.get("type") == "stop" for t in element.findall("tie"))
            if printed is not None:
                read = printed
                printed_in_bar[place] = printed
            elif tied_from and previous is not None and previous[0] == place:
                read = previous[1]
            elif place in printed_in_bar:
                read = printed_in_bar[place]
            else:
                read = key_alter(fifths, place[0])
            if read != sounding:
                bad.append(index)
                printed_in_bar[place] = sounding  # once printed, it holds for the rest of the bar
            previous = (place, sounding)
    return bad


def print_accidentals(part: stream.Stream, indexes: Iterable[int]) -> None:
    """Print the accidental (a natural if it has none) of the notes at ``indexes`` of ``part.recurse().notes``
    (of every pitch, for a chord)."""
    notes = list(part.recurse().notes)
    for i in indexes:
        for p in notes[i].pitches:
            p.accidental = pitch.Accidental(p.alter)  # standard name: a "natural-sharp" would export as "other"
            p.accidental.displayStatus = True
