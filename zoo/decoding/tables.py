"""Per-class lookup tables over a recognizer's vocabulary (the CTC blank is the last row): what each reading rule
needs to know about a token without parsing it, as tensors the graph can gather from."""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import tensorflow as tf

from zoo.notation.theory import clef_lowest_line, key_alter, staff_step
from zoo.notation.tokens import (
    bar_units,
    duration_units,
    key_signature_fifths,
    key_signature_token,
    note_pitch,
    note_value,
    with_alter,
    without_duration,
)

STEPS = "CDEFGAB"
PLACES = len(STEPS) * 10  # lines and spaces a note can sit on: step × octave digit
DIATONIC = len(STEPS) * 10 + 1  # diatonic numbers of octaves 0-9 (music21's: C0 = 1)
# Sentinels, each for one meaning; none is a value the field can take.
NO_KEY = 99  # fifths: not a key signature, or no key to set
NO_ALTER = 99  # alteration: no note of the bar on this place yet, or no sign the head is sure of
NO_STEP = 99  # staff step: the head is not sure of one, or the note is not doubted


def _duration_sign(token: str) -> str | None:
    """What readings of one note or rest with another duration share; a grace note counts as its note's reading."""
    return without_duration("note-" + token.removeprefix("gracenote-") if token.startswith("gracenote-") else token)


class Tables:
    """Lookup tables over ``vocabulary`` + the blank, as int32/bool constants.

    - ``units``: a note's or rest's duration in :data:`zoo.notation.tokens.QUARTER_UNITS` (0: a grace note,
      -1: untimed); ``meter``: a time signature's bar length (-1: none); ``others``: the ids of the same note or
      rest with another duration or as a grace note (padded with the blank).
    - ``is_note``, ``place`` (step × 10 + octave), ``alter``, ``fifths`` (:data:`NO_KEY`), ``respelled``
      (the id with alteration -2..2, itself where the vocabulary lacks it), ``step`` (diatonic number),
      ``value`` (note value class, -1: not a note), ``lowest`` (a clef's bottom line, 0: not a clef), ``natural``
      [value, diatonic] (-1: none).
    """

    def __init__(self, vocabulary: Sequence[str]):
        self.vocabulary = tuple(vocabulary)
        index = {token: i for i, token in enumerate(vocabulary)}
        size = len(vocabulary) + 1
        self.blank = size - 1
        units, meter = np.full(size, -1, np.int32), np.full(size, -1, np.int32)
        is_note, place, alter = np.zeros(size, bool), np.zeros(size, np.int32), np.zeros(size, np.int32)
        fifths = np.full(size, NO_KEY, np.int32)
        respelled = np.tile(np.arange(size, dtype=np.int32)[:, None], (1, 5))
        step, value, lowest = np.zeros(size, np.int32), np.full(size, -1, np.int32), np.zeros(size, np.int32)
        values: dict[str, int] = {}
        same_sign: dict[str, list[int]] = {}
        naturals: dict[tuple[int, int], int] = {}
        for i, token in enumerate(vocabulary):
            units[i] = 0 if token.startswith("gracenote-") else duration_units(token) or -1
            meter[i] = bar_units(token) or -1
            if (sign := _duration_sign(token)) is not None:
                same_sign.setdefault(sign, []).append(i)
            lowest[i] = clef_lowest_line(token) or 0
            if (pitch := note_pitch(token)) is not None:
                is_note[i] = True
                place[i] = STEPS.index(pitch[0]) * 10 + pitch[1]
                step[i] = staff_step(token, 0)  # diatonic number: less a clef's bottom line, its step on the staff
                value[i] = values.setdefault(note_value(token), len(values))
                alter[i] = pitch[2]
                for a in range(-2, 3):
                    respelled[i, a + 2] = index.get(with_alter(token, a), i)
                if pitch[2] == 0:
                    naturals[(value[i], step[i])] = i
            elif (k := key_signature_fifths(token)) is not None:
                fifths[i] = k
        width = max((len(ids) - 1 for ids in same_sign.values()), default=0) or 1
        others = np.full((size, width), self.blank, np.int32)
        for ids in same_sign.values():
            for i in ids:
                row = [j for j in ids if j != i]
                others[i, : len(row)] = row
        natural = np.full((max(len(values), 1), DIATONIC), -1, np.int32)
        for (v, diatonic), i in naturals.items():
            if 0 <= diatonic < DIATONIC:
                natural[v, diatonic] = i

        def flags(test) -> tf.Tensor:
            return tf.constant([bool(test(token)) for token in vocabulary] + [False])

        self.units, self.meter, self.others = tf.constant(units), tf.constant(meter), tf.constant(others)
        self.barline = flags(lambda t: t == "barline")
        self.rest = flags(lambda t: t.startswith("rest-"))
        self.multirest = flags(lambda t: t.startswith("multirest-"))
        self.grace = flags(lambda t: t.startswith("gracenote-"))
        self.tie = flags(lambda t: t == "tie")
        self.tie_id = index.get("tie", self.blank)
        self.is_note, self.place, self.alter = tf.constant(is_note), tf.constant(place), tf.constant(alter)
        self.fifths, self.respelled = tf.constant(fifths), tf.constant(respelled)
        self.step, self.value, self.lowest = tf.constant(step), tf.constant(value), tf.constant(lowest)
        self.natural = tf.constant(natural)
        self.key_alter = tf.constant([[int(key_alter(k, s)) for s in STEPS] for k in range(-7, 8)], tf.int32)
        self.key_token = tf.constant([index.get(key_signature_token(k), -1) for k in range(-7, 8)], tf.int32)


@lru_cache(maxsize=4)
def tables(vocabulary: tuple[str, ...]) -> Tables:
    with tf.init_scope():  # constants made while a function is traced must outlive that graph
        return Tables(vocabulary)
