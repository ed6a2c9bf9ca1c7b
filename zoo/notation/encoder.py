"""music21 → PrIMuS semantic tokens: one monophonic staff, as PrIMuS encodes its incipits.

``tie`` follows the first of two tied notes (before a barline that separates them); a grace note comes before
its main note; ``barline`` closes every measure, the last included, unless that measure's right barline is
invisible (music21 type ``'none'``, which is how :func:`zoo.notation.decoder.tokens_to_stream` marks a token
sequence that does not end with ``barline``). Clef, key and time signature are emitted at the start (a clef
always: music21's ``bestClef`` if the stream has none) and again only where they change. A measure rest is
``rest-whole``, as it is engraved: music21 ``fullMeasure=True`` (MusicXML ``<rest measure="yes"/>``, MEI
``<mRest/>``), or ``fullMeasure='auto'`` with the rest as long as the bar (music21's MusicXML export draws that
as a measure rest, so the label matches an image engraved from it; a MusicXML or MEI file says which rests are
measure rests, so :func:`zoo.notation.readers.encode_file` keeps its other rests as written); several of them
under a ``spanner.MultiMeasureRest`` (MusicXML ``<multiple-rest>``, MEI ``<multiRest num=N/>``) are one
``multirest-N``.

What PrIMuS cannot say raises :class:`~zoo.notation.tokens.EncodingError` with the measure number, so a dataset
builder can skip the segment and count the reason: chords (unless ``chords="top"``), tuplets (PrIMuS has no
tuplet token), more than one voice with notes in a measure, durations without a PrIMuS name (complex, three or
more dots, shorter than a 128th), unpitched notes, microtones, triple accidentals, non-standard key signatures,
additive meters, percussion/tab clefs. The encoder may emit a few grammatical tokens that are not in the PrIMuS
vocabulary; they are listed in :data:`~zoo.notation.tokens.EXTENSION_TOKENS`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from music21 import bar, base, chord, clef, expressions, key, meter, note, pitch, spanner, stream
from music21.musicxml.helpers import isFullMeasureRest

from zoo.notation.tokens import _ALTER_TO_ACCIDENTAL, _MAX_DOTS, _OCTAVE_CLEFS, DURATION_NAMES, EncodingError

ChordPolicy = Literal["raise", "top"]


# The staff context, in the order a staff states it (and PrIMuS writes it): clef, key signature, time signature.
CONTEXT_CLASSES = (clef.Clef, key.KeySignature, meter.TimeSignature)


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


