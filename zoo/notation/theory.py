"""How a musician reads a staff's accidentals and lines: the key signature, the bar, ties, clefs.

A note shows the accidental printed on it, else the one of the note it is tied from, else the latest earlier
note of its bar on the same line or space, else the key signature's. These functions apply that rule to token
sequences; :mod:`zoo.notation.printing` applies it to engraved MusicXML, :mod:`zoo.notation.readers` to MEI.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Literal

from music21 import key

from zoo.notation.decoder import _clef_of
from zoo.notation.tokens import _CLEF_RE, _KEY_RE, _NOTE_RE, EncodingError, _fifths, _place_and_alter


@cache
def key_alter(fifths: int, step: str) -> float:
    """The alteration a key signature of ``fifths`` (sharps > 0, flats < 0) gives ``step``."""
    accidental = key.KeySignature(fifths).accidentalByStep(step)
    return accidental.alter if accidental is not None else 0


AccidentalSource = Literal["key signature", "carried", "on the note"]


def accidental_source(tokens: Sequence[str], index: int) -> AccidentalSource:
    """Where a reader of the staff takes the accidental of the note ``tokens[index]`` from, by the reading rules
    of :mod:`zoo.notation.printing`: the note it is tied from or an earlier note of its bar on the same line
    or space ("carried"), else the key signature, else a sign printed on the note itself.

    Staves built by this project show every pitch that way (:func:`zoo.notation.printing.unreadable_notes`);
    a misread accidental of the first two kinds says a recognizer did not carry what it saw earlier in the staff.
    """
    match = _NOTE_RE.fullmatch(tokens[index])
    if match is None:
        raise ValueError(f"token {index} ({tokens[index]!r}) is not a note")
    implied, origin = _implied(tokens, index)
    if implied != _place_and_alter(match)[1]:
        return "on the note"
    if origin is None:
        return "key signature"
    if origin == index:
        return "carried"
    return "key signature" if accidental_source(tokens, origin) == "key signature" else "carried"


def implied_alter(tokens: Sequence[str], index: int) -> int:
    """The alteration (semitones) a reader gives the note ``tokens[index]`` if no sign is printed on it: the
    note it is tied from, else the latest earlier note of its bar on the same line or space, else the key."""
    if _NOTE_RE.fullmatch(tokens[index]) is None:
        raise ValueError(f"token {index} ({tokens[index]!r}) is not a note")
    return _implied(tokens, index)[0]


def clef_lowest_line(token: str) -> int | None:
    """The diatonic note number (music21's: C4 = 29) a clef token puts on the staff's bottom line; None for any
    other token or a clef music21 has no class for."""
    match = _CLEF_RE.fullmatch(token)
    if match is None:
        return None
    try:
        return _clef_of(match, token).lowestLine
    except EncodingError:
        return None


def staff_step(token: str, lowest_line: int) -> int | None:
    """Where a note token is printed: diatonic steps above the bottom line of a staff whose clef puts
    ``lowest_line`` there (0 the bottom line, 1 the space above it, 8 the top line, below 0 under the staff);
    None for any other token."""
    match = _NOTE_RE.fullmatch(token)
    if match is None:
        return None
    return int(match["octave"]) * 7 + "CDEFGAB".index(match["step"]) + 1 - lowest_line


def _implied(tokens: Sequence[str], index: int) -> tuple[int, int | None]:
    """The alteration implied for ``tokens[index]`` and where from: ``index`` itself for a tie (the tied-from
    note's), an earlier note's index for the bar, None for the key signature."""
    place = _place_and_alter(_NOTE_RE.fullmatch(tokens[index]))[0]
    tied_from = _tied_from(tokens, index)
    if tied_from is not None and _place_and_alter(tied_from)[0] == place:
        return _place_and_alter(tied_from)[1], index
    for i in range(index - 1, -1, -1):
        if tokens[i] == "barline":
            break
        earlier = _NOTE_RE.fullmatch(tokens[i])
        if earlier is None or _place_and_alter(earlier)[0] != place or _tied_from(tokens, i) is not None:
            continue  # a note tied over from the last bar shows no sign of its own
        return _place_and_alter(earlier)[1], i
    keys = [k for t in tokens[:index] if (k := _KEY_RE.fullmatch(t)) is not None]
    fifths = _fifths(keys[-1]["tonic"]) if keys else 0
    return int(key_alter(fifths, place[0])), None



def _tied_from(tokens: Sequence[str], index: int) -> re.Match | None:
    """The note a tie joins to ``tokens[index]``, if any (a ``tie`` token follows the note before it)."""
    for i in range(index - 1, -1, -1):
        if (previous := _NOTE_RE.fullmatch(tokens[i])) is not None:
            return previous if "tie" in tokens[i + 1:index] else None
    return None

