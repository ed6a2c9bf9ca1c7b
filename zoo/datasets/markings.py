"""What printed scores carry beside the notes, drawn on a staff segment whose label stays the notes.

PrIMuS staves are bare: notes, rests, clef, key and time signatures. A page from a choir book or a fiddle tune
collection also prints lyrics under the staff, dynamics and hairpins, slurs, articulations and ornaments, repeat
barlines and volta brackets, tempo and expression text, measure numbers and a part name. The semantic encoding has
no token for any of them (a fermata is the exception and is kept as the corpus has it), so a recognizer must learn
to look past them. :func:`decorate` adds them to a segment at the rates a recipe gives; the staff builder labels
the segment before decorating it, so the label cannot change.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

from music21 import articulations, bar, dynamics, expressions, note, spanner, stream, tempo

from zoo.datasets import recipes

# Syllables of Latin, German, English and Italian texts (sacred and folk): real lyrics are words cut into syllables.
SYLLABLES = ("Ky", "ri", "e", "e", "lei", "son", "Glo", "ri", "a", "in", "ex", "cel", "sis", "De", "o", "A", "gnus",
             "De", "i", "qui", "tol", "lis", "pec", "ca", "ta", "mun", "di", "Ach", "Gott", "vom", "Him", "mel", "sieh",
             "da", "rein", "Herz", "lich", "tut", "mich", "ver", "lan", "gen", "O", "come", "let", "us", "sing", "the",
             "bon", "ny", "lass", "of", "Bal", "loch", "my", "le", "love", "is", "like", "a", "red", "red", "rose",
             "A", "ve", "ma", "ris", "stel", "la", "can", "ta", "te", "Do", "mi", "no", "al", "le", "lu", "ia")
DYNAMICS = ("pp", "p", "mp", "mf", "f", "ff", "sf", "fp")
# Tempo words only: cairosvg has no font for the note glyph of Verovio's metronome marks (it draws a box)
TEMPI = ("Adagio", "Andante", "Moderato", "Allegretto", "Allegro", "Allegro assai", "Presto", "Largo", "Vivace",
         "Grave", "Lento", "Allegro moderato", "Tempo di Minuetto", "Andantino")
TEXTS = ("dolce", "espr.", "cresc.", "dim.", "rit.", "a tempo", "legato", "cantabile", "poco rit.", "sempre p",
         "solo", "tutti", "pizz.", "arco", "D.C. al Fine", "Fine")
PART_NAMES = ("Soprano", "Alto", "Tenore", "Basso", "Violino I", "Violino II", "Viola", "Violoncello", "Flauto",
              "Oboe", "Clarinetto in B", "Fagotto", "Corno", "Cantus", "Tenor", "Bassus", "Fiddle", "Voice", "Piano")
ARTICULATIONS = (articulations.Staccato, articulations.Accent, articulations.Tenuto, articulations.StrongAccent,
                 articulations.Staccatissimo)
ORNAMENTS = (expressions.Trill, expressions.Mordent, expressions.InvertedMordent, expressions.Turn)


@dataclass(frozen=True)
class MarkingRates:
    """How often each kind of marking is drawn: per segment (``lyrics``, ``repeats``, ...) or, for the marks that
    sit on notes (``articulation_per_note``, ...), per note of a segment that has that kind."""
    probability: float = 0.7  # a segment is decorated at all
    lyrics: float = 0.4
    second_verse: float = 0.3  # of the segments with lyrics
    dynamics: float = 0.5
    hairpins: float = 0.3
    slurs: float = 0.4
    articulations: float = 0.3
    articulation_per_note: float = 0.3
    ornaments: float = 0.15
    repeats: float = 0.25
    volta: float = 0.1
    tempo: float = 0.25
    text: float = 0.2
    part_name: float = 0.25
    measure_numbers: float = 0.25

    @classmethod
    def from_recipe(cls, value: dict[str, Any] | None) -> MarkingRates | None:
        rates = recipes.section(cls, value, "markings")
        if rates is None:
            return None
        bad = [f.name for f in fields(cls) if not 0 <= getattr(rates, f.name) <= 1]
        if bad:
            raise ValueError(f"recipe markings {', '.join(bad)} must be probabilities in [0, 1]")
        return rates


def decorate(segment: stream.Part, rng: random.Random, rates: MarkingRates) -> dict[str, Any]:
    """Add markings to ``segment`` in place; returns the engraving options they need (measure numbers) and the
    kinds drawn, for the build report."""
    drawn: list[str] = []
    notes = [n for n in segment.recurse().notesAndRests if not n.duration.isGrace]
    pitched = [n for n in notes if isinstance(n, note.NotRest)]
    measures = list(segment.getElementsByClass(stream.Measure))
    if not measures or not pitched:
        return {"kinds": drawn}

    def chance(p: float) -> bool:
        return rng.random() < p

    if chance(rates.lyrics):
        verses = 2 if chance(rates.second_verse) else 1
        sung = max((lyric.number or 1 for n in pitched for lyric in n.lyrics), default=0)  # the corpus' own verses
        for verse in range(sung + 1, sung + verses + 1):
            _lyrics(pitched, rng, verse)
        drawn.append("lyrics" if verses == 1 else "lyrics x2")
    if chance(rates.dynamics):
        for n in rng.sample(pitched, min(len(pitched), rng.randint(1, 2))):
            n.activeSite.insert(n.offset, dynamics.Dynamic(rng.choice(DYNAMICS)))
        drawn.append("dynamics")
    if chance(rates.hairpins) and len(pitched) >= 3:
        a = rng.randrange(len(pitched) - 2)
        b = min(len(pitched) - 1, a + rng.randint(2, 5))
        kind = dynamics.Crescendo if chance(0.5) else dynamics.Diminuendo
        segment.insert(0, kind(pitched[a], pitched[b]))
        drawn.append("hairpin")
    if chance(rates.slurs) and len(pitched) >= 2:
        start = 0
        while start < len(pitched) - 1:
            start += rng.randint(0, 3)
            stop = start + rng.randint(1, 3)
            if stop >= len(pitched):
                break
            segment.insert(0, spanner.Slur(pitched[start], pitched[stop]))
            start = stop + 1
        drawn.append("slurs")
    if chance(rates.articulations):
        for n in pitched:
            if chance(rates.articulation_per_note):
                n.articulations.append(rng.choice(ARTICULATIONS)())
        drawn.append("articulations")
    if chance(rates.ornaments):
        for n in rng.sample(pitched, min(len(pitched), rng.randint(1, 2))):
            n.expressions.append(rng.choice(ORNAMENTS)())
        drawn.append("ornaments")
    if chance(rates.repeats):
        if chance(0.5):
            measures[0].leftBarline = bar.Repeat(direction="start")
        measures[-1].rightBarline = bar.Repeat(direction="end")
        drawn.append("repeat barlines")
    if chance(rates.volta) and len(measures) >= 2:
        segment.insert(0, spanner.RepeatBracket(measures[-1], number=rng.choice((1, 2))))
        drawn.append("volta")
    if chance(rates.tempo):
        measures[0].insert(0, tempo.MetronomeMark(text=rng.choice(TEMPI)))
        drawn.append("tempo")
    if chance(rates.text):
        n = rng.choice(pitched)
        words = expressions.TextExpression(rng.choice(TEXTS))
        words.placement = "above" if chance(0.5) else "below"
        n.activeSite.insert(n.offset, words)
        drawn.append("text")
    if chance(rates.part_name):
        segment.partName = rng.choice(PART_NAMES)
        drawn.append("part name")
    options: dict[str, Any] = {}
    if chance(rates.measure_numbers):
        options["measure_numbers"] = True
        drawn.append("measure numbers")
    return {"kinds": drawn, **options}


def _lyrics(pitched: list[note.NotRest], rng: random.Random, verse: int) -> None:
    """One verse: a syllable under most notes (a melisma or a tied note gets none), words of one to three
    syllables joined by hyphens."""
    left = 0
    for n in pitched:
        if n.tie is not None and n.tie.type in ("stop", "continue"):
            continue
        if rng.random() < 0.15:  # a melisma
            continue
        if left == 0:
            size = rng.choice((1, 1, 2, 2, 3))
            left, syllabic = size, "single" if size == 1 else "begin"
        else:
            syllabic = "end" if left == 1 else "middle"
        left -= 1
        n.lyrics.append(note.Lyric(rng.choice(SYLLABLES), number=verse, syllabic=syllabic))
