"""Cut one-staff, incipit-like segments out of corpus parts, ready to engrave and label.

A segment is a run of a few consecutive measures of one part, made standalone:
clef, key and time signature in force are restated in its first measure (as a
PrIMuS incipit shows them), and everything PrIMuS' semantic encoding has no
token for (lyrics, dynamics, slurs, articulations, text, repeat barlines) is
removed so that the image shows exactly what the label says.
"""
from __future__ import annotations

import copy
import random

from music21 import (
    articulations,
    bar,
    clef,
    dynamics,
    expressions,
    instrument,
    interval,
    key,
    meter,
    musicxml,
    note,
    pitch,
    spanner,
    stream,
    tempo,
)
from music21 import tie as m21tie

from zoo.notation.encoder import CONTEXT_CLASSES
from zoo.notation.printing import print_accidentals, unreadable_notes

_DROP_CLASSES = (
    dynamics.Dynamic,
    expressions.TextExpression,
    tempo.TempoIndication,
    expressions.RehearsalMark,
    instrument.Instrument,
    spanner.Spanner,
    bar.Barline,
)
# what a segment that keeps its markings still loses: an instrument can transpose what is written, an ottava
# moves it (both change what the label would mean)
_MARKING_CLASSES = (instrument.Instrument, spanner.Ottava)



def measure_chunks(
    n_measures: int, rng: random.Random, min_measures: int = 2, max_measures: int = 5, max_chunks: int | None = None
) -> list[tuple[int, int]]:
    """Consecutive, non-overlapping [start, stop) measure ranges of random length."""
    chunks, start = [], 0
    while start + min_measures <= n_measures and (max_chunks is None or len(chunks) < max_chunks):
        stop = min(n_measures, start + rng.randint(min_measures, max_measures))
        chunks.append((start, stop))
        start = stop
    return chunks


def part_measures(part: stream.Part) -> list[stream.Measure]:
    return list(part.getElementsByClass(stream.Measure))


def standalone_segment(part: stream.Part, start: int, stop: int, keep_markings: bool = False) -> stream.Part:
    """Measures [start, stop) of ``part`` as a clean, self-contained one-staff part. ``keep_markings`` keeps what
    the corpus prints beside the notes (lyrics, dynamics, slurs, articulations, text, barlines: see
    :mod:`zoo.datasets.markings`); its label must then be read from :func:`cleaned`."""
    measures = part_measures(part)[start:stop]
    if not measures:
        raise ValueError(f"empty measure range {start}:{stop}")
    # Ask the first note/rest: a measure's own clef is not in its own context, the note's is.
    anchor = measures[0].recurse().notesAndRests.first() or measures[0]
    context = {cls: anchor.getContextByClass(cls) for cls in CONTEXT_CLASSES}
    segment = stream.Part()
    for number, measure in enumerate(measures, start=1):
        m = copy.deepcopy(measure)
        m.number = number
        m.numberSuffix = None
        m.leftBarline = None
        m.rightBarline = None
        segment.append(m)
    head = segment.getElementsByClass(stream.Measure).first()
    for cls, obj in context.items():
        for old in list(head.recurse().getElementsByClass(cls)):
            if old.getOffsetInHierarchy(head) == 0:
                old.activeSite.remove(old)
        if obj is not None:
            head.insert(0, _plain(obj))
    _clean(segment, keep_markings)
    _cut_broken_ties(segment)
    segment.partName = None
    segment.partAbbreviation = None
    return segment


# The clefs of RISM incipits (PrIMuS' source), by the pitch on the staff's middle line.
INCIPIT_CLEFS: dict[str, str] = {
    "G1": "D5", "G2": "B4", "C1": "G4", "C2": "E4", "C3": "C4", "C4": "A3", "C5": "F3", "F3": "F3", "F4": "D3",
}


def reclef(segment: stream.Part, rng: random.Random, max_shift: int = 5) -> bool:
    """Restate ``segment`` in another incipit clef that suits its range; False if none or several clefs.

    The corpus is nearly all treble and bass clef while PrIMuS incipits often use C
    clefs, so a recognizer must learn that a clef moves every pitch. Only the clef
    changes: pitches (and so the label's notes) stay, their staff positions move.
    """
    head = segment.getElementsByClass(stream.Measure).first()
    clefs = list(segment.recurse().getElementsByClass(clef.Clef))
    notes = [p.diatonicNoteNum for n in segment.recurse().notes for p in n.pitches]
    if len(clefs) != 1 or clefs[0].activeSite is not head or not notes:
        return False
    middle = sorted(notes)[len(notes) // 2]
    current = f"{clefs[0].sign}{clefs[0].line}" if not clefs[0].octaveChange else None
    choices = [name for name, line_pitch in INCIPIT_CLEFS.items()
               if name != current and abs(pitch.Pitch(line_pitch).diatonicNoteNum - middle) <= max_shift]
    if not choices:
        return False
    head.replace(clefs[0], clef.clefFromString(rng.choice(choices)))
    return True


def transpose_to_key(segment: stream.Part, rng: random.Random, max_accidentals: int = 6) -> bool:
    """Move ``segment`` to another major key signature of at most ``max_accidentals``; False if it has none or several.

    The corpus holds few keys (most chorales and folk songs have 0 to 3 sharps or
    flats), while PrIMuS incipits use all of them, in every clef. The segment moves
    by at most a tritone, by the interval between the two keys' tonics, so music21
    respells every note and the key signature together and the range stays near
    its own.
    """
    head = segment.getElementsByClass(stream.Measure).first()
    signatures = list(segment.recurse().getElementsByClass(key.KeySignature))
    if len(signatures) != 1 or signatures[0].activeSite is not head or signatures[0].isNonTraditional:
        return False
    current = signatures[0].sharps
    targets = [k for k in range(-max_accidentals, max_accidentals + 1) if k != current]
    if not targets:
        return False
    segment.transpose(key_interval(current, rng.choice(targets)), inPlace=True)
    return True


def key_interval(sharps: int, new_sharps: int) -> interval.Interval:
    """The interval, at most a tritone up or down, from the tonic of one major key signature to another's."""
    start = pitch.Pitch(key.KeySignature(sharps).asKey("major").tonic.name + "4")
    end = pitch.Pitch(key.KeySignature(new_sharps).asKey("major").tonic.name + "4")
    shift = end.ps - start.ps
    if shift > 6:
        end.octave -= 1
    elif shift < -6:
        end.octave += 1
    return interval.Interval(noteStart=start, noteEnd=end)


def with_multirest(segment: stream.Part, count: int) -> stream.Part:
    """``segment`` after ``count`` bars' rest drawn as one multi-measure rest, as instrumental incipits open."""
    measures = list(segment.getElementsByClass(stream.Measure))
    head = measures[0]
    meter_in_force = head.getElementsByClass(meter.TimeSignature).first() or head.getContextByClass(meter.TimeSignature)
    if meter_in_force is None:
        raise ValueError("a multi-measure rest needs a time signature")
    out, rests = stream.Part(), []
    for number in range(1, count + 1):
        bar_rest = stream.Measure(number=number)
        rest = note.Rest(quarterLength=meter_in_force.barDuration.quarterLength)
        bar_rest.insert(0, rest)
        rests.append(rest)
        out.append(bar_rest)
    first = out.getElementsByClass(stream.Measure).first()
    for cls in CONTEXT_CLASSES:
        for obj in list(head.getElementsByClass(cls)):
            if obj.offset == 0:
                head.remove(obj)
                first.insert(0, obj)
    for number, measure in enumerate(measures, start=count + 1):
        measure.number = number
        out.append(measure)
    out.insert(0, spanner.MultiMeasureRest(rests))
    return out


def _plain(obj):
    """A fresh copy of a context object; a Key becomes its KeySignature (PrIMuS writes signatures)."""
    if isinstance(obj, key.Key):
        return key.KeySignature(obj.sharps)
    return copy.deepcopy(obj)


def cleaned(segment: stream.Part) -> stream.Part:
    """A copy of ``segment`` without anything the semantic encoding has no token for: what its label is read from."""
    copy_ = copy.deepcopy(segment)
    _clean(copy_)
    return copy_


def _clean(segment: stream.Part, keep_markings: bool = False) -> None:
    drop = _MARKING_CLASSES if keep_markings else _DROP_CLASSES
    for element in list(segment.recurse()):
        if isinstance(element, drop) and not isinstance(element, spanner.MultiMeasureRest):
            site = element.activeSite
            if site is not None:
                site.remove(element)
        elif isinstance(element, note.GeneralNote) and not keep_markings:
            element.lyrics = []
            element.articulations = [a for a in element.articulations if not isinstance(a, articulations.Articulation)]
            element.expressions = [e for e in element.expressions if isinstance(e, expressions.Fermata)]


def _cut_broken_ties(segment: stream.Part) -> None:
    """Drop ties the engraving would not draw whole: into or out of the segment (half a tie), and between
    notes of different pitches (a slur or a typo in some ABC sources, which Verovio does not draw)."""
    notes = list(segment.recurse().notes)
    if not notes:
        return
    if notes[0].tie is not None and notes[0].tie.type == "stop":
        notes[0].tie = None
    for a, b in zip(notes, notes[1:] + [None]):
        if a.tie is None or a.tie.type not in ("start", "continue"):
            continue
        if b is not None and _sounding(a) == _sounding(b):
            continue
        a.tie = m21tie.Tie("stop") if a.tie.type == "continue" else None
        if b is not None and b.tie is not None and b.tie.type in ("stop", "continue"):
            b.tie = m21tie.Tie("start") if b.tie.type == "continue" else None


def _sounding(n: note.NotRest) -> list[tuple[str, int | None, float]]:
    """Step, octave and alteration of each pitch: an explicit natural and no accidental sound the same."""
    return [(p.step, p.implicitOctave, p.alter) for p in n.pitches]


def to_musicxml(part: stream.Part) -> str:
    """MusicXML of a one-staff segment, printing every accidental a reader needs for its sounding pitches
    (:mod:`zoo.notation.printing`; it marks them on ``part``), so an image engraved from it shows what its
    label says."""
    for _ in range(3):  # a printed mark can change what music21 decides to print after it
        xml = musicxml.m21ToXml.GeneralObjectExporter(part).parse().decode("utf-8")
        unreadable = unreadable_notes(xml)
        if not unreadable:
            return xml
        print_accidentals(part, unreadable)
    raise ValueError("printed accidentals do not give the sounding pitches")
