"""PrIMuS semantic tokens → a music21 Part (write it as MusicXML or MIDI)."""
from __future__ import annotations

import re
from collections.abc import Sequence

from music21 import bar, base, clef, duration, expressions, key, meter, note, spanner, stream
from music21 import tie as m21tie

from zoo.notation.encoder import _multimeasure_rest
from zoo.notation.tokens import (
    _ACCIDENTAL_TO_M21,
    _CLEF_RE,
    _KEY_RE,
    _M21_TYPES,
    _MULTIREST_RE,
    _NOTE_RE,
    _OCTAVE_CLEFS,
    _REST_RE,
    _TIME_RE,
    DURATION_NAMES,
    EncodingError,
    _fifths,
)

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
