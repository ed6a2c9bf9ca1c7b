"""PrIMuS "semantic" tokens: their grammar, and what one token says (pitch, duration, key, metre).

PrIMuS (Calvo-Zaragoza & Rizo 2018) labels each incipit with tokens of this grammar (the 1,781 the
published models know are in ``resources/primus/vocabulary_semantic.txt``, :mod:`zoo.notation.vocabulary`)::

    clef-{G1,G2,F3,F4,F5,C1..C5}    keySignature-<tonic>M    timeSignature-{N/D,C,C/}
    note-<pitch>_<duration>    gracenote-<pitch>_<duration>    rest-<duration>    multirest-<N>
    barline    tie

``<pitch>`` is step + the accidental that *sounds* (``#``, ``b`` or nothing) + octave, so a B in E-flat
major is ``Bb4`` whether or not the score prints the flat. ``<duration>`` is one of quadruple_whole,
double_whole, whole, half, quarter, eighth, sixteenth, thirty_second, sixty_fourth, hundred_twenty_eighth,
then up to two dots, then ``_fermata``. A key signature is named by the major key that has it (PrIMuS writes
``keySignature-EbM`` for C minor too). How a staff becomes tokens and back: :mod:`zoo.notation.encoder` and
:mod:`zoo.notation.decoder`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

from music21 import duration, key

EXTENSION_TOKENS: dict[str, str] = {
    "keySignature-CbM": "seven flats; PrIMuS has no seven-flat incipit (C#M, seven sharps, is in the vocabulary)",
    "note-/gracenote-<step>##<octave>_…, <step>bb<octave>_…": "double sharps and double flats; PrIMuS has none",
    "clef-<sign><line>_{8vb,8va,15mb,15ma}": "octave-transposing clefs (e.g. the tenor's treble-8vb); "
    "pitches stay sounding pitches",
    "clef-<sign><line> other than the ten PrIMuS clefs": "e.g. clef-F2 or clef-G3, should a source use one",
    "timeSignature-N/D not in the vocabulary": "any plain N/D meter, e.g. timeSignature-7/8",
    "multirest-N not in the vocabulary": "the vocabulary only has the counts PrIMuS happened to contain",
    "note-/gracenote-/rest- combinations not in the vocabulary": "every pitch x duration x dots x fermata "
    "combination is grammatical; the vocabulary holds the ones PrIMuS contains (e.g. note-C7_quarter is not)",
}
"""Tokens :func:`stream_to_tokens` may emit that the PrIMuS vocabulary lacks (pattern -> why)."""


class EncodingError(ValueError):
    """A staff PrIMuS' semantic encoding cannot represent, or a malformed token or unreadable file."""


DURATION_NAMES: dict[str, str] = {
    "longa": "quadruple_whole",
    "breve": "double_whole",
    "whole": "whole",
    "half": "half",
    "quarter": "quarter",
    "eighth": "eighth",
    "16th": "sixteenth",
    "32nd": "thirty_second",
    "64th": "sixty_fourth",
    "128th": "hundred_twenty_eighth",
}
"""music21 duration type -> PrIMuS duration name."""

_M21_TYPES = {name: m21 for m21, name in DURATION_NAMES.items()}
_ALTER_TO_ACCIDENTAL = {-2: "bb", -1: "b", 0: "", 1: "#", 2: "##"}
_ACCIDENTAL_TO_ALTER = {accidental: alter for alter, accidental in _ALTER_TO_ACCIDENTAL.items()}
_ACCIDENTAL_TO_M21 = {"bb": "--", "b": "-", "": "", "#": "#", "##": "##"}
_OCTAVE_CLEFS = {-2: "15mb", -1: "8vb", 1: "8va", 2: "15ma"}
_MAX_DOTS = 2

_DURATION = r"(?P<dur>{})(?P<dots>\.{{0,2}})(?P<fermata>_fermata)?".format(
    "|".join(sorted(_M21_TYPES, key=len, reverse=True))
)
_NOTE_RE = re.compile(rf"(?P<kind>note|gracenote)-(?P<step>[A-G])(?P<acc>##|#|bb|b)?(?P<octave>\d)_{_DURATION}")
_REST_RE = re.compile(rf"rest-{_DURATION}")
_MULTIREST_RE = re.compile(r"multirest-(?P<count>[1-9]\d*)")
_CLEF_RE = re.compile(r"clef-(?P<sign>[GFC])(?P<line>[1-5])(?:_(?P<octave>8vb|8va|15mb|15ma))?")
_KEY_RE = re.compile(r"keySignature-(?P<tonic>[A-G][#b]?)M")
_TIME_RE = re.compile(r"timeSignature-(?:(?P<symbol>C/?)|(?P<num>[1-9]\d*)/(?P<den>[1-9]\d*))")
_METER_SYMBOLS = {"common": ("4", "4"), "cut": ("2", "2")}  # C and C/


_GRAMMAR = (_NOTE_RE, _REST_RE, _MULTIREST_RE, _CLEF_RE, _KEY_RE, _TIME_RE)


def is_grammatical(token: str) -> bool:
    """Whether ``token`` follows the PrIMuS semantic grammar (plus the EXTENSION_TOKENS forms)."""
    return token in ("barline", "tie") or any(pattern.fullmatch(token) for pattern in _GRAMMAR)


KINDS = ("note", "gracenote", "rest", "multirest", "clef", "keySignature", "timeSignature", "barline", "tie")


@dataclass(frozen=True)
class Token:
    """One semantic token, parsed once (:func:`parse`): its kind and the fields that kind has (the others keep
    their empty defaults). ``note-C#5_quarter._fermata`` is ``Token(kind="note", step="C", alter=1, octave=5,
    duration="quarter", dots=1, fermata=True)``."""

    text: str
    kind: str  # one of KINDS
    step: str = ""  # notes: the letter C..B
    alter: int = 0  # notes: the sounding alteration in semitones
    octave: int = 0  # notes
    duration: str = ""  # notes and rests: the PrIMuS duration name (quarter, thirty_second, ...)
    dots: int = 0
    fermata: bool = False
    count: int = 0  # multi-measure rests: bars
    clef: str = ""  # clefs: shape and line, e.g. "G2" (an octave-transposing clef keeps its suffix in ``text``)
    fifths: int = 0  # key signatures: sharps (> 0) or flats (< 0)
    numerator: int = 0  # time signatures (C is 4/4, C/ is 2/2)
    denominator: int = 0

    @property
    def is_note(self) -> bool:
        """A note or a grace note."""
        return self.kind in ("note", "gracenote")

    @property
    def pitch(self) -> str:
        """A note's pitch as the token writes it (``C#5``); empty for other kinds."""
        return f"{self.step}{_ALTER_TO_ACCIDENTAL[self.alter]}{self.octave}" if self.is_note else ""

    @property
    def place(self) -> tuple[str, int] | None:
        """A note's line or space (step and octave), whatever its accidental; None for other kinds."""
        return (self.step, self.octave) if self.is_note else None


MUSIC_KINDS = frozenset({"note", "gracenote", "rest", "multirest"})  # the kinds that fill a staff's time


def kinds_of(tokens: Iterable[str]) -> set[str]:
    """The kinds of the grammatical tokens among ``tokens``."""
    return {p.kind for t in tokens if (p := parse(t)) is not None}


@lru_cache(maxsize=8192)
def parse(text: str) -> Token | None:
    """The token ``text`` parsed, or None when it does not follow the grammar (:func:`is_grammatical`)."""
    if text in ("barline", "tie"):
        return Token(text, text)
    if match := _NOTE_RE.fullmatch(text):
        return Token(text, match["kind"], step=match["step"], alter=_ACCIDENTAL_TO_ALTER[match["acc"] or ""],
                     octave=int(match["octave"]), duration=match["dur"], dots=len(match["dots"]),
                     fermata=bool(match["fermata"]))
    if match := _REST_RE.fullmatch(text):
        return Token(text, "rest", duration=match["dur"], dots=len(match["dots"]), fermata=bool(match["fermata"]))
    if match := _MULTIREST_RE.fullmatch(text):
        return Token(text, "multirest", count=int(match["count"]))
    if match := _CLEF_RE.fullmatch(text):
        return Token(text, "clef", clef=match["sign"] + match["line"])
    if match := _KEY_RE.fullmatch(text):
        return Token(text, "keySignature", fifths=_fifths(match["tonic"]))
    if match := _TIME_RE.fullmatch(text):
        numerator, denominator = _METER_SYMBOLS["common" if match["symbol"] == "C" else "cut"] \
            if match["symbol"] else (match["num"], match["den"])
        return Token(text, "timeSignature", numerator=int(numerator), denominator=int(denominator))
    return None


def note_pitch(token: str) -> tuple[str, int, int] | None:
    """A note token's step, octave and alteration in semitones (``note-C#5_quarter`` → ``("C", 5, 1)``); None for
    any other token."""
    match = _NOTE_RE.fullmatch(token)
    return None if match is None else (match["step"], int(match["octave"]), _place_and_alter(match)[1])


def note_value(token: str) -> str | None:
    """A note token without its pitch (``note-C#5_quarter.`` → ``note_quarter.``): what two readings of one note
    head on different lines or spaces share; None for any other token."""
    match = _NOTE_RE.fullmatch(token)
    return None if match is None else match["kind"] + token[match.end("octave"):]


QUARTER_UNITS = 128
"""Duration units per quarter note: a double-dotted 128th (7/128 of a quarter) is a whole number of them."""


def _timed_match(token: str) -> re.Match | None:
    """The match of a note or rest token that takes time in the bar (not a grace note)."""
    match = _NOTE_RE.fullmatch(token) or _REST_RE.fullmatch(token)
    return None if match is None or match.re is _NOTE_RE and match["kind"] == "gracenote" else match


@lru_cache(maxsize=4096)
def duration_units(token: str) -> int | None:
    """How long a note or rest token lasts, in :data:`QUARTER_UNITS` per quarter; None for a grace note (it takes
    no time in the bar), a multi-measure rest, or any other token."""
    if (match := _timed_match(token)) is None:
        return None
    dotted = duration.Duration(type=_M21_TYPES[match["dur"]], dots=len(match["dots"]))
    return int(dotted.quarterLength * QUARTER_UNITS)


def bar_units(token: str) -> int | None:
    """The length of a bar in a time signature token's metre, in :data:`QUARTER_UNITS`; None for other tokens."""
    match = _TIME_RE.fullmatch(token)
    if match is None:
        return None
    numerator, denominator = _METER_SYMBOLS["common" if match["symbol"] == "C" else "cut"] if match["symbol"] else \
        (match["num"], match["den"])
    return int(numerator) * 4 * QUARTER_UNITS // int(denominator)


def without_duration(token: str) -> str | None:
    """A note or rest token with its duration and dots left out (``note-C#5_quarter._fermata`` →
    ``note-C#5__fermata``): what two readings of one sign with different beams, flags or dots share; None for a
    grace note or any other token."""
    if (match := _timed_match(token)) is None:
        return None
    return token[:match.start("dur")] + token[match.end("dots"):]


def with_alter(token: str, alter: int) -> str:
    """A note token with its accidental replaced so that it sounds ``alter`` semitones from its step."""
    match = _NOTE_RE.fullmatch(token)
    if match is None:
        raise ValueError(f"{token!r} is not a note token")
    rest = token[match.end("step") + len(match["acc"] or ""):]
    return f"{match['kind']}-{match['step']}{_ALTER_TO_ACCIDENTAL[alter]}{rest}"


def _place_and_alter(note_match: re.Match) -> tuple[tuple[str, str], int]:
    """A note token's line or space (step and octave) and its alteration in semitones."""
    return (note_match["step"], note_match["octave"]), _ACCIDENTAL_TO_ALTER[note_match["acc"] or ""]


@cache
def _fifths(tonic: str) -> int:
    return key.Key(tonic[0] + tonic[1:].replace("b", "-")).sharps


def key_signature_fifths(token: str) -> int | None:
    """Sharps (> 0) or flats (< 0) a ``keySignature-`` token stands for; None for any other token."""
    match = _KEY_RE.fullmatch(token)
    return None if match is None else _fifths(match["tonic"])


def key_signature_token(fifths: int) -> str:
    """The ``keySignature-`` token of a major key with ``fifths`` sharps (> 0) or flats (< 0), |fifths| <= 7."""
    if not -7 <= fifths <= 7:
        raise ValueError(f"a key signature has at most 7 sharps or flats, got {fifths}")
    return "keySignature-" + key.KeySignature(fifths).asKey("major").tonic.name.replace("-", "b") + "M"

