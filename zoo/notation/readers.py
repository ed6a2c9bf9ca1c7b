"""Reading and writing scores and token files: any format music21 reads, MEI with PrIMuS' conventions repaired.

music21 quirks handled here (music21 9.x): its MEI reader drops ``<multiRest>`` (the measure comes back
empty, with duration 0), ignores ``@fermata``, ``<fermata>`` and ``@meter.sym`` (C and C/ become plain 4/4
and 2/2), and leaves a note without ``@accid``/``@accid.ges`` with no accidental, i.e. natural, although MEI
means "as the key signature and earlier accidentals in the measure say". :func:`encode_file` repairs these
for ``.mei`` files; the other readers (MusicXML, Humdrum, ABC) already give sounding pitches, ABC once
:func:`parse_file` has told music21 that an accidental holds to the end of the bar.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from music21 import converter, expressions, key, meter, note, pitch, spanner, stream

from zoo.notation.encoder import ChordPolicy, stream_to_tokens
from zoo.notation.tokens import _METER_SYMBOLS, EncodingError

_MUSICXML_SUFFIXES = {".xml", ".musicxml", ".mxl"}

# ABC 2.1's rule: an accidental holds to the end of the bar (for the same letter in every octave, the standard's
# default "%%propagate-accidentals pitch"). music21 applies it only to files that declare ABC >= 2.0 on their
# first line, and the corpus' ABC files (Essen, Ryan's, O'Neill's, Josquin) declare none, so without this line
# "=c2 c2" under K:A reads as C then C#, where the tune means C twice.
ABC_VERSION_LINE = "%abc-2.1"


def parse_file(path: Path) -> stream.Stream:
    """music21's reading of a score file; ABC files under ABC 2.1's accidental rule unless their first line
    declares a version, and with tied notes keeping their accidental over the bar line."""
    if path.suffix.lower() != ".abc":
        return converter.parse(str(path))
    text = path.read_text(encoding="utf-8", errors="replace")
    if not re.match(r"%abc-\d+\.\d+", text.lstrip()):
        text = f"{ABC_VERSION_LINE}\n{text}"
    parsed = converter.parse(text, format="abc")
    for part in parsed.recurse(includeSelf=True).getElementsByClass(stream.Part):
        _carry_accidentals_over_ties(part)
    return parsed


def _carry_accidentals_over_ties(part: stream.Part) -> None:
    """A tied note sounds on at the pitch it started with. music21's ABC reader starts each bar afresh, so in
    "=C2- | C2" under K:D the continuation comes back as C#; give it the accidental of the note it is tied from,
    unless the tune prints one on it."""
    notes = [n for n in part.recurse().notes if isinstance(n, note.Note)]
    for a, b in zip(notes, notes[1:]):
        if a.tie is None or a.tie.type not in ("start", "continue"):
            continue
        p, q = a.pitch, b.pitch
        printed = q.accidental is not None and q.accidental.displayStatus is True
        if (p.step, p.octave) == (q.step, q.octave) and p.alter != q.alter and not printed:
            q.accidental = pitch.Accidental(p.alter)
            q.accidental.displayStatus = False  # the tie carries it; nothing is printed


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
_MEI_NS = "http://www.music-encoding.org/ns/mei"
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
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


