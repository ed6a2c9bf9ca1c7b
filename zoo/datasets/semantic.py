"""PrIMuS "semantic" encoding, both ways: one monophonic staff (music21) <-> tab-separated tokens.

PrIMuS (Calvo-Zaragoza & Rizo 2018) labels each incipit with tokens of this grammar (the 1,781 the
published models know are in ``resources/primus/vocabulary_semantic.txt``)::

    clef-{G1,G2,F3,F4,F5,C1..C5}    keySignature-<tonic>M    timeSignature-{N/D,C,C/}
    note-<pitch>_<duration>    gracenote-<pitch>_<duration>    rest-<duration>    multirest-<N>
    barline    tie

``<pitch>`` is step + the accidental that *sounds* (``#``, ``b`` or nothing) + octave, so a B in E-flat
major is ``Bb4`` whether or not the score prints the flat. ``<duration>`` is one of quadruple_whole,
double_whole, whole, half, quarter, eighth, sixteenth, thirty_second, sixty_fourth, hundred_twenty_eighth,
then up to two dots, then ``_fermata``. A key signature is named by the major key that has it (PrIMuS writes
``keySignature-EbM`` for C minor too). ``tie`` follows the first of two tied notes (before a barline that
separates them); a grace note comes before its main note; ``barline`` closes every measure, the last
included, unless that measure's right barline is invisible (music21 type ``'none'``, which is how
:func:`tokens_to_stream` marks a token sequence that does not end with ``barline``). Clef, key and time
signature are emitted at the start (a clef always: music21's ``bestClef`` if the stream has none) and again
only where they change. A measure rest is ``rest-whole``, as it is engraved: music21 ``fullMeasure=True``
(MusicXML ``<rest measure="yes"/>``, MEI ``<mRest/>``), or ``fullMeasure='auto'`` with the rest as long as
the bar (music21's MusicXML export draws that as a measure rest, so the label matches an image engraved from
it; a MusicXML or MEI file says which rests are measure rests, so :func:`encode_file` keeps its other rests
as written); several of them under a ``spanner.MultiMeasureRest`` (MusicXML ``<multiple-rest>``, MEI
``<multiRest num=N/>``) are one ``multirest-N``.

What PrIMuS cannot say raises :class:`EncodingError` with the measure number, so a dataset builder can
skip the segment and count the reason: chords (unless ``chords="top"``), tuplets (PrIMuS has no tuplet
token), more than one voice with notes in a measure, durations without a PrIMuS name (complex, three or
more dots, shorter than a 128th), unpitched notes, microtones, triple accidentals, non-standard key
signatures, additive meters, percussion/tab clefs.

The encoder may emit a few grammatical tokens that are not in the PrIMuS vocabulary; they are listed in
:data:`EXTENSION_TOKENS` and :func:`out_of_vocabulary` finds them.

music21 quirks handled here (music21 9.x): its MEI reader drops ``<multiRest>`` (the measure comes back
empty, with duration 0), ignores ``@fermata``, ``<fermata>`` and ``@meter.sym`` (C and C/ become plain 4/4
and 2/2), and leaves a note without ``@accid``/``@accid.ges`` with no accidental, i.e. natural, although MEI
means "as the key signature and earlier accidentals in the measure say". :func:`encode_file` repairs these
for ``.mei`` files; the other readers (MusicXML, Humdrum, ABC) already give sounding pitches, ABC once
:func:`zoo.datasets.corpus.parse_file` has told music21 that an accidental holds to the end of the bar.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

from music21 import bar, base, chord, clef, converter, duration, expressions, key, meter, note, pitch, spanner, stream
from music21 import tie as m21tie
from music21.musicxml.helpers import isFullMeasureRest

from zoo.datasets.accidentals import key_alter
from zoo.datasets.corpus import parse_file

__all__ = [
    "EXTENSION_TOKENS",
    "VOCABULARY_PATH",
    "EncodingError",
    "encode_file",
    "is_grammatical",
    "key_signature_fifths",
    "key_signature_token",
    "load_vocabulary",
    "out_of_vocabulary",
    "read_semantic",
    "stream_to_tokens",
    "tokens_to_stream",
    "write_semantic",
]

VOCABULARY_PATH = Path(__file__).resolve().parent / "resources" / "primus" / "vocabulary_semantic.txt"

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


ChordPolicy = Literal["raise", "top"]

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

_MUSICXML_SUFFIXES = {".xml", ".musicxml", ".mxl"}
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


# ----------------------------------------------------------------------------------------------- vocabulary


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[str, ...]:
    return tuple(line.strip() for line in VOCABULARY_PATH.read_text(encoding="utf-8").splitlines() if line.strip())


def load_vocabulary() -> list[str]:
    """The 1,781 PrIMuS semantic tokens, in file order (read once, then cached)."""
    return list(_vocabulary())


@lru_cache(maxsize=1)
def _vocabulary_set() -> frozenset[str]:
    return frozenset(_vocabulary())


def out_of_vocabulary(tokens: Iterable[str]) -> list[str]:
    """Distinct tokens, in first-seen order, that the PrIMuS vocabulary lacks (a model cannot emit them)."""
    known, seen, unknown = _vocabulary_set(), set(), []
    for token in tokens:
        if token not in known and token not in seen:
            seen.add(token)
            unknown.append(token)
    return unknown


_GRAMMAR = (_NOTE_RE, _REST_RE, _MULTIREST_RE, _CLEF_RE, _KEY_RE, _TIME_RE)


def is_grammatical(token: str) -> bool:
    """Whether ``token`` follows the PrIMuS semantic grammar (plus the EXTENSION_TOKENS forms)."""
    return token in ("barline", "tie") or any(pattern.fullmatch(token) for pattern in _GRAMMAR)


# ----------------------------------------------------------------------------------------------- reading

AccidentalSource = Literal["key signature", "carried", "on the note"]


def accidental_source(tokens: Sequence[str], index: int) -> AccidentalSource:
    """Where a reader of the staff takes the accidental of the note ``tokens[index]`` from, by the reading rules
    of :mod:`zoo.datasets.accidentals`: the note it is tied from or an earlier note of its bar on the same line
    or space ("carried"), else the key signature, else a sign printed on the note itself.

    Staves built by this project show every pitch that way (:func:`zoo.datasets.accidentals.unreadable_notes`);
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


def with_alter(token: str, alter: int) -> str:
    """A note token with its accidental replaced so that it sounds ``alter`` semitones from its step."""
    match = _NOTE_RE.fullmatch(token)
    if match is None:
        raise ValueError(f"{token!r} is not a note token")
    rest = token[match.end("step") + len(match["acc"] or ""):]
    return f"{match['kind']}-{match['step']}{_ALTER_TO_ACCIDENTAL[alter]}{rest}"


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


def _place_and_alter(note_match: re.Match) -> tuple[tuple[str, str], int]:
    """A note token's line or space (step and octave) and its alteration in semitones."""
    return (note_match["step"], note_match["octave"]), _ACCIDENTAL_TO_ALTER[note_match["acc"] or ""]


def _tied_from(tokens: Sequence[str], index: int) -> re.Match | None:
    """The note a tie joins to ``tokens[index]``, if any (a ``tie`` token follows the note before it)."""
    for i in range(index - 1, -1, -1):
        if (previous := _NOTE_RE.fullmatch(tokens[i])) is not None:
            return previous if "tie" in tokens[i + 1:index] else None
    return None


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


# ----------------------------------------------------------------------------------------------- files


def write_semantic(tokens: Sequence[str], path: str | Path) -> None:
    """Write like PrIMuS does: one line, every token followed by a tab, no newline."""
    for token in tokens:
        if not token or any(ch.isspace() for ch in token):
            raise EncodingError(f"token {token!r} is empty or contains whitespace")
    Path(path).write_text("".join(f"{token}\t" for token in tokens), encoding="utf-8")


def read_semantic(path: str | Path) -> list[str]:
    """Tokens of a ``.semantic`` file; trailing tab or newline tolerated."""
    return [token for token in re.split(r"\s+", Path(path).read_text(encoding="utf-8")) if token]


def encode_file(path: str | Path, part: int = 0, chords: ChordPolicy = "raise") -> list[str]:
    """Parse any file music21 reads (MEI with PrIMuS' conventions repaired) and encode one of its parts."""
    path = Path(path)
    score = _read_score(path)
    parts = _parts_of(score)
    if not -len(parts) <= part < len(parts):
        raise EncodingError(f"{path} has {len(parts)} part(s); part {part} is out of range")
    return stream_to_tokens(parts[part], chords=chords)


def _read_score(path: Path) -> stream.Stream:
    if not path.is_file():
        raise EncodingError(f"no such file: {path}")
    try:
        if path.suffix.lower() == ".mei":
            return _read_mei(path)
        parsed = parse_file(path)
    except EncodingError:
        raise
    except Exception as exc:  # music21 raises many unrelated types for unreadable input
        raise EncodingError(f"music21 cannot read {path}: {exc}") from exc
    if isinstance(parsed, stream.Opus):  # several ABC tunes in one file: the first one
        scores = list(parsed.scores)
        if not scores:
            raise EncodingError(f"{path} contains no score")
        parsed = scores[0]
    if path.suffix.lower() in _MUSICXML_SUFFIXES:
        _keep_written_rests(parsed)
    return parsed


def _keep_written_rests(score: stream.Stream) -> None:
    """MusicXML marks measure rests (measure="yes" -> fullMeasure True); any other rest is what it says."""
    for rest in score.recurse().getElementsByClass(note.Rest):
        if rest.fullMeasure == "auto":
            rest.fullMeasure = False


def _parts_of(score: stream.Stream) -> list[stream.Stream]:
    if isinstance(score, stream.Score):
        return list(score.parts) or [score]
    return [score]


# ----------------------------------------------------------------------------------------------- MEI repairs

# The staff context, in the order a staff states it (and PrIMuS writes it): clef, key signature, time signature.
CONTEXT_CLASSES = (clef.Clef, key.KeySignature, meter.TimeSignature)

_MEI_NS = "http://www.music-encoding.org/ns/mei"
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
_METER_SYMBOLS = {"common": ("4", "4"), "cut": ("2", "2")}
_FERMATA_HOSTS = {f"{{{_MEI_NS}}}{tag}" for tag in ("note", "rest", "chord", "mRest", "multiRest")}


def _read_mei(path: Path) -> stream.Score:
    """music21's MEI reader, plus what it drops: multi-measure rests, fermatas, implied accidentals."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise EncodingError(f"{path} is not well-formed XML: {exc}") from exc
    multirests, measure_rests, fermatas = _mark_mei(root)
    symbols = _mark_meter_symbols(root)
    ET.register_namespace("", _MEI_NS)
    score = converter.parse(ET.tostring(root, encoding="unicode"), format="mei")
    for part in _parts_of(score):
        by_id = {element.id: element for element in part.recurse().notesAndRests}
        _restore_measure_rests(part, by_id, multirests, measure_rests)
        for element_id in fermatas & by_id.keys():
            by_id[element_id].expressions.append(expressions.Fermata())
        _apply_implied_accidentals(part)
        for signature in part.recurse().getElementsByClass(meter.TimeSignature):
            signature.symbol = symbols.get(signature.ratioString, signature.symbol)
    return score


def _mark_mei(root: ET.Element) -> tuple[dict[str, int], set[str], set[str]]:
    """Turn each <multiRest> into an <mRest> music21 can read; collect ids of multi/measure rests and fermatas."""
    multirests: dict[str, int] = {}
    measure_rests: set[str] = set()
    fermatas: set[str] = set()
    for index, element in enumerate(root.iter()):
        tag = element.tag
        if tag == f"{{{_MEI_NS}}}multiRest":
            multirests[_ensure_id(element, index)] = int(element.attrib.pop("num", "1"))
            element.tag = f"{{{_MEI_NS}}}mRest"
        elif tag == f"{{{_MEI_NS}}}mRest":
            measure_rests.add(_ensure_id(element, index))
        if tag in _FERMATA_HOSTS and element.get("fermata"):
            fermatas.add(_ensure_id(element, index))
        elif tag == f"{{{_MEI_NS}}}fermata" and element.get("startid"):
            fermatas.add(element.get("startid", "").lstrip("#"))
    return multirests, measure_rests, fermatas


def _mark_meter_symbols(root: ET.Element) -> dict[str, str]:
    """music21 ignores @meter.sym: remember which meter is drawn C or C/ (and give it a count if it has none)."""
    symbols = {}
    for element in root.iter():
        symbol = element.get("meter.sym")
        if symbol not in _METER_SYMBOLS:
            continue
        count, unit = _METER_SYMBOLS[symbol]
        element.set("meter.count", element.get("meter.count", count))
        element.set("meter.unit", element.get("meter.unit", unit))
        symbols[f"{element.get('meter.count')}/{element.get('meter.unit')}"] = symbol
    return symbols


def _ensure_id(element: ET.Element, index: int) -> str:
    if not element.get(_XML_ID):
        element.set(_XML_ID, f"scorezoo-{index}")
    return element.get(_XML_ID, "")


def _restore_measure_rests(
    part: stream.Stream, by_id: dict[str, note.GeneralNote], multirests: dict[str, int], measure_rests: set[str]
) -> None:
    """MEI says which rests are measure rests (<mRest>, <multiRest>); a <rest> that fills a bar is not one."""
    for rest in part.recurse().getElementsByClass(note.Rest):
        rest.fullMeasure = rest.id in measure_rests
    for element_id, count in multirests.items():
        rest = by_id.get(element_id)
        if rest is None:
            continue
        rest.fullMeasure = True
        group = spanner.MultiMeasureRest(rest)
        group.numRests = count  # one measure in the stream stands for ``count`` in the score
        part.insert(0, group)


def _apply_implied_accidentals(part: stream.Stream) -> None:
    """Give MEI notes without @accid/@accid.ges the accidental that sounds (key, earlier accidental, tie)."""
    previous: note.NotRest | None = None
    for measure in part.getElementsByClass(stream.Measure):
        carried: dict[tuple[str, int], pitch.Accidental] = {}
        for current in measure.recurse().notes:
            signature = current.getContextByClass(key.KeySignature)
            tied_from = previous if _continues_tie(current) else None
            for p in current.pitches:
                _spell_implied(p, carried, signature, tied_from)
            previous = current


def _continues_tie(n: note.NotRest) -> bool:
    return n.tie is not None and n.tie.type in ("stop", "continue")


def _spell_implied(
    p: pitch.Pitch,
    carried: dict[tuple[str, int], pitch.Accidental],
    signature: key.KeySignature | None,
    tied_from: note.NotRest | None,
) -> None:
    place = (p.step, p.implicitOctave)
    if p.accidental is not None:
        carried[place] = p.accidental
        return
    implied = _tied_accidental(p, tied_from) or carried.get(place)
    if implied is None and signature is not None:
        implied = signature.accidentalByStep(p.step)
    if implied is not None and implied.alter != 0:
        p.accidental = pitch.Accidental(implied.name)


def _tied_accidental(p: pitch.Pitch, tied_from: note.NotRest | None) -> pitch.Accidental | None:
    if tied_from is None:
        return None
    for q in tied_from.pitches:
        if q.step == p.step and q.implicitOctave == p.implicitOctave:
            return q.accidental
    return None


# ----------------------------------------------------------------------------------------------- encoding


def stream_to_tokens(source: stream.Stream | Iterable[stream.Measure], chords: ChordPolicy = "raise") -> list[str]:
    """PrIMuS semantic tokens of one monophonic staff: a Part, a Score (its first part) or measures.

    ``chords="top"`` keeps the highest note of a chord instead of raising :class:`EncodingError`.
    """
    if chords not in ("raise", "top"):
        raise ValueError(f"chords must be 'raise' or 'top', not {chords!r}")
    return _Encoder(chords).encode(_measures_of(source))


def _measures_of(source: stream.Stream | Iterable[stream.Measure]) -> list[stream.Measure]:
    if isinstance(source, stream.Score) and source.parts:
        source = source.parts[0]
    if isinstance(source, stream.Measure):
        return [source]
    if isinstance(source, stream.Stream):
        measures = list(source.getElementsByClass(stream.Measure))
        if not measures and source.recurse().notesAndRests:
            measures = list(source.makeMeasures().getElementsByClass(stream.Measure))
        return measures
    measures = list(source)
    if not all(isinstance(m, stream.Measure) for m in measures):
        raise TypeError("stream_to_tokens takes a Part, a Score or Measures")
    return measures


def _where(measure: stream.Measure) -> str:
    return f"measure {measure.measureNumberWithSuffix()}"


class _Encoder:
    """Walks measures once, remembering the clef, key and meter in force so only changes are emitted."""

    def __init__(self, chords: ChordPolicy) -> None:
        self.chords = chords
        self.tokens: list[str] = []
        self.in_force: dict[type, str] = {}

    def encode(self, measures: list[stream.Measure]) -> list[str]:
        index = 0
        while index < len(measures):
            measure = measures[index]
            if index == 0:
                self._initial_context(measure)
            span = self._measure(measure)
            index += span
            if not _invisible(measures[min(index, len(measures)) - 1].rightBarline):
                self.tokens.append("barline")
        return self.tokens

    def _initial_context(self, measure: stream.Measure) -> None:
        """Clef, key and meter in force where the staff starts, even if set in an earlier measure."""
        anchor = measure.recurse().notesAndRests.first() or measure
        for cls in CONTEXT_CLASSES:
            own = [e for e in measure.recurse().getElementsByClass(cls) if e.getOffsetInHierarchy(measure) == 0]
            found = own[0] if own else anchor.getContextByClass(cls)
            if found is None and cls is clef.Clef:
                found = clef.bestClef(measure.activeSite or measure, recurse=True)
            if found is not None:
                self._context(found, measure)

    def _measure(self, measure: stream.Measure) -> int:
        """Emit one measure's tokens; returns how many measures it stands for (a multi-measure rest)."""
        span = 1
        for element in _measure_events(measure):
            if isinstance(element, CONTEXT_CLASSES):
                self._context(element, measure)
            elif isinstance(element, note.Rest):
                span = max(span, self._rest(element, measure))
            elif isinstance(element, (note.Note, chord.Chord)):
                self._note(element, measure)
            elif isinstance(element, note.GeneralNote):
                raise EncodingError(f"{_where(measure)}: {type(element).__name__} has no PrIMuS token")
        return span

    def _context(self, element: base.Music21Object, measure: stream.Measure) -> None:
        kind = next(cls for cls in CONTEXT_CLASSES if isinstance(element, cls))
        token = _context_token(element, measure)
        if self.in_force.get(kind) != token:
            self.in_force[kind] = token
            self.tokens.append(token)

    def _rest(self, rest: note.Rest, measure: stream.Measure) -> int:
        group = _multimeasure_rest(rest)
        if group is not None:
            if group.getFirst() is rest:
                self.tokens.append(f"multirest-{group.numRests}")
            return len(group.getSpannedElements())
        if isFullMeasureRest(rest):  # music21's own rule, so the label matches music21's MusicXML export
            self.tokens.append(f"rest-whole{_fermata(rest)}")
        else:
            self.tokens.append(f"rest-{_duration_name(rest, measure)}{_fermata(rest)}")
        return 1

    def _note(self, element: note.Note | chord.Chord, measure: stream.Measure) -> None:
        kind = "gracenote" if element.duration.isGrace else "note"
        name = _pitch_name(self._single_pitch(element, measure), measure)
        self.tokens.append(f"{kind}-{name}_{_duration_name(element, measure)}{_fermata(element)}")
        if element.tie is not None and element.tie.type in ("start", "continue"):
            self.tokens.append("tie")

    def _single_pitch(self, element: note.Note | chord.Chord, measure: stream.Measure) -> pitch.Pitch:
        if isinstance(element, note.Note):
            return element.pitch
        if len(element.pitches) == 1 or (self.chords == "top" and element.pitches):
            return max(element.pitches, key=lambda p: p.ps)
        names = " ".join(p.nameWithOctave for p in element.pitches)
        raise EncodingError(f"{_where(measure)}: chord [{names}] is not monophonic (chords='top' keeps the top note)")


def _measure_events(measure: stream.Measure) -> list[base.Music21Object]:
    """Context objects and the one voice's notes/rests of a measure, in reading order."""
    own = [(element.offset, element) for element in measure if not isinstance(element, stream.Voice)]
    layers = [[(voice.offset + e.offset, e) for e in voice] for voice in measure.voices]
    direct = [(offset, e) for offset, e in own if isinstance(e, note.GeneralNote)]
    if direct:
        layers.append(direct)
    events = [(offset, e) for offset, e in own if not isinstance(e, note.GeneralNote)] + _one_layer(layers, measure)
    events.sort(key=lambda pair: (pair[0], _reading_rank(pair[1])))
    return [element for _, element in events if not _hidden(element)]


def _one_layer(
    layers: list[list[tuple[float, base.Music21Object]]], measure: stream.Measure
) -> list[tuple[float, base.Music21Object]]:
    """The voice with notes; other voices may only hold rests (often invisible placeholders)."""
    sounding = [layer for layer in layers if any(isinstance(e, note.NotRest) for _, e in layer)]
    if len(sounding) > 1:
        raise EncodingError(f"{_where(measure)}: {len(sounding)} voices have notes; PrIMuS encodes one voice")
    if sounding:
        return sounding[0]
    visible = [layer for layer in layers if any(isinstance(e, note.GeneralNote) and not _hidden(e) for _, e in layer)]
    return visible[0] if visible else []


def _reading_rank(element: base.Music21Object) -> int:
    """At one offset: clef, key, meter, then grace notes, then the rest (stable sort keeps voice order)."""
    for rank, cls in enumerate(CONTEXT_CLASSES):
        if isinstance(element, cls):
            return rank
    if isinstance(element, note.GeneralNote) and element.duration.isGrace:
        return 3
    return 4


def _hidden(element: base.Music21Object) -> bool:
    return isinstance(element, note.Rest) and element.style.hideObjectOnPrint


def _invisible(barline: bar.Barline | None) -> bool:
    return barline is not None and barline.type == "none"


def _multimeasure_rest(rest: note.Rest) -> spanner.MultiMeasureRest | None:
    groups = rest.getSpannerSites([spanner.MultiMeasureRest])
    return groups[0] if groups else None


def _clef_token(element: clef.Clef, measure: stream.Measure) -> str:
    if element.sign not in ("G", "F", "C") or element.line is None:
        raise EncodingError(f"{_where(measure)}: {type(element).__name__} has no PrIMuS token")
    octave = element.octaveChange or 0
    if octave not in (0, *_OCTAVE_CLEFS):
        raise EncodingError(f"{_where(measure)}: clef transposing {octave} octaves has no token")
    return f"clef-{element.sign}{element.line}" + (f"_{_OCTAVE_CLEFS[octave]}" if octave else "")


def _key_token(element: key.KeySignature, measure: stream.Measure) -> str:
    if element.isNonTraditional or not -7 <= element.sharps <= 7:
        raise EncodingError(f"{_where(measure)}: key signature {element} has no PrIMuS token")
    tonic = element.asKey("major").tonic.name.replace("-", "b")
    return f"keySignature-{tonic}M"


def _time_token(element: meter.TimeSignature, measure: stream.Measure) -> str:
    if element.symbol == "common" and element.ratioString == "4/4":
        return "timeSignature-C"
    if element.symbol == "cut" and element.ratioString == "2/2":
        return "timeSignature-C/"
    if "+" in element.ratioString:
        raise EncodingError(f"{_where(measure)}: additive meter {element.ratioString} has no PrIMuS token")
    return f"timeSignature-{element.numerator}/{element.denominator}"


def _context_token(element: base.Music21Object, measure: stream.Measure) -> str:
    """The clef-, keySignature- or timeSignature- token of a context element."""
    if isinstance(element, clef.Clef):
        return _clef_token(element, measure)
    if isinstance(element, key.KeySignature):
        return _key_token(element, measure)
    return _time_token(element, measure)


def _pitch_name(p: pitch.Pitch, measure: stream.Measure) -> str:
    alter = p.accidental.alter if p.accidental is not None else 0
    if alter != int(alter) or int(alter) not in _ALTER_TO_ACCIDENTAL:
        raise EncodingError(f"{_where(measure)}: {p.nameWithOctave} has no PrIMuS spelling")
    return f"{p.step}{_ALTER_TO_ACCIDENTAL[int(alter)]}{p.implicitOctave}"


def _duration_name(element: note.GeneralNote, measure: stream.Measure) -> str:
    d = element.duration
    what = f"{_where(measure)}: {element!r}"
    if d.tuplets:
        ratio = f"{d.tuplets[0].numberNotesActual}:{d.tuplets[0].numberNotesNormal}"
        raise EncodingError(f"{what} is in a {ratio} tuplet; PrIMuS has no tuplet tokens")
    if d.type not in DURATION_NAMES or len(d.components) > 1:
        raise EncodingError(f"{what} lasts {d.quarterLength} quarters, which no single PrIMuS duration names")
    if d.dots > _MAX_DOTS:
        raise EncodingError(f"{what} has {d.dots} dots; PrIMuS writes at most {_MAX_DOTS}")
    return DURATION_NAMES[d.type] + "." * d.dots


def _fermata(element: note.GeneralNote) -> str:
    return "_fermata" if any(isinstance(e, expressions.Fermata) for e in element.expressions) else ""


# ----------------------------------------------------------------------------------------------- decoding


def tokens_to_stream(tokens: Sequence[str]) -> stream.Part:
    """A Part for PrIMuS semantic tokens (measures split at ``barline``), ready for MusicXML or MIDI."""
    return _Decoder().decode(tokens)


class _Decoder:
    """Builds measures token by token; keeps the meter in force (measure rests need its length)."""

    def __init__(self) -> None:
        self.part = stream.Part()
        self.measure = stream.Measure(number=1)
        self.time = meter.TimeSignature("4/4")
        self.last_event: note.GeneralNote | None = None
        self.tie_open = False

    def decode(self, tokens: Sequence[str]) -> stream.Part:
        for position, token in enumerate(tokens):
            self._token(token, position)
        if len(self.measure):
            self.measure.rightBarline = bar.Barline("none")  # no closing ``barline`` token
            self._close_measure()
        return self.part

    def _token(self, token: str, position: int) -> None:
        if token == "barline":
            self._close_measure()
        elif token == "tie":
            self._tie(token, position)
        elif match := _NOTE_RE.fullmatch(token):
            self._add_note(match)
        elif match := _REST_RE.fullmatch(token):
            self._add_event(_with_fermata(note.Rest(duration=_duration_of(match)), match))
        elif match := _MULTIREST_RE.fullmatch(token):
            self._multirest(int(match["count"]))
        elif match := _CLEF_RE.fullmatch(token):
            self._insert_context(_clef_of(match, token))
        elif match := _KEY_RE.fullmatch(token):
            self._insert_context(_key_of(match, token))
        elif match := _TIME_RE.fullmatch(token):
            self.time = _time_of(match, token)
            self._insert_context(self.time)
        else:
            raise EncodingError(f"unknown or malformed PrIMuS semantic token {token!r} at position {position}")

    def _insert_context(self, element: base.Music21Object) -> None:
        self.measure.insert(self.measure.highestTime, element)

    def _add_note(self, match: re.Match) -> None:
        name = f"{match['step']}{_ACCIDENTAL_TO_M21[match['acc'] or '']}{match['octave']}"
        n = _with_fermata(note.Note(name, duration=_duration_of(match)), match)
        if match["kind"] == "gracenote":
            n.getGrace(inPlace=True)
        elif self.tie_open:
            n.tie = m21tie.Tie("stop")
            self.tie_open = False
        self._add_event(n)

    def _add_event(self, element: note.GeneralNote) -> None:
        self.measure.append(element)
        self.last_event = element

    def _tie(self, token: str, position: int) -> None:
        previous = self.last_event
        if not isinstance(previous, note.Note) or previous.duration.isGrace:
            raise EncodingError(f"malformed: {token!r} at position {position} does not follow a note")
        previous.tie = m21tie.Tie("continue" if previous.tie is not None and previous.tie.type == "stop" else "start")
        self.tie_open = True

    def _multirest(self, count: int) -> None:
        """``count`` measure rests under one MultiMeasureRest; the following ``barline`` closes the last."""
        rests = []
        for index in range(count):
            if index:
                self._close_measure()
            rest = self._measure_rest()
            self._add_event(rest)
            rests.append(rest)
        self.part.insert(0, spanner.MultiMeasureRest(rests, useSymbols=False))  # an H-bar with N, as PrIMuS draws

    def _measure_rest(self) -> note.Rest:
        bar_length = self.time.barDuration.quarterLength
        whole = duration.Duration(bar_length)
        rest = note.Rest(duration=whole if whole.type in DURATION_NAMES else duration.Duration("whole"))
        rest.fullMeasure = True
        return rest

    def _close_measure(self) -> None:
        self._lone_whole_rest_fills_measure()
        self.part.append(self.measure)
        self.measure = stream.Measure(number=self.measure.number + 1)

    def _lone_whole_rest_fills_measure(self) -> None:
        """``rest-whole`` alone in a measure is a measure rest: make it last the bar (MIDI, MusicXML)."""
        events = [e for e in self.measure.notesAndRests if not e.duration.isGrace]
        if len(events) != 1 or not isinstance(events[0], note.Rest) or _multimeasure_rest(events[0]) is not None:
            return
        rest = events[0]
        if rest.duration.type == "whole" and rest.duration.dots == 0:
            fermatas = list(rest.expressions)
            replacement = self._measure_rest()
            rest.duration = replacement.duration
            rest.fullMeasure = True
            rest.expressions = fermatas
        else:
            rest.fullMeasure = False  # keep e.g. a dotted half rest in 3/4 a dotted half rest on export


def _duration_of(match: re.Match) -> duration.Duration:
    return duration.Duration(type=_M21_TYPES[match["dur"]], dots=len(match["dots"]))


def _with_fermata(element: note.GeneralNote, match: re.Match) -> note.GeneralNote:
    if match["fermata"]:
        element.expressions.append(expressions.Fermata())
    return element


def _clef_of(match: re.Match, token: str) -> clef.Clef:
    shift = {name: octaves for octaves, name in _OCTAVE_CLEFS.items()}.get(match["octave"] or "", 0)
    try:
        return clef.clefFromString(f"{match['sign']}{match['line']}", octaveShift=shift)
    except Exception as exc:  # music21 refuses lines it has no clef class for
        raise EncodingError(f"clef token {token!r}: {exc}") from exc


def _key_of(match: re.Match, token: str) -> key.KeySignature:
    sharps = _fifths(match["tonic"])
    if not -7 <= sharps <= 7:
        raise EncodingError(f"key token {token!r}: {sharps} sharps is no key signature")
    return key.KeySignature(sharps)


def _time_of(match: re.Match, token: str) -> meter.TimeSignature:
    symbol = {"C": "common", "C/": "cut"}.get(match["symbol"] or "")
    ratio = {"common": "4/4", "cut": "2/2"}.get(symbol or "", f"{match['num']}/{match['den']}")
    try:
        signature = meter.TimeSignature(ratio)
    except Exception as exc:  # e.g. a denominator music21 rejects
        raise EncodingError(f"time signature token {token!r}: {exc}") from exc
    if symbol:
        signature.symbol = symbol
    return signature
