"""What a staff prints, as the sign head reads it: accidental signs, each token's kind, the sharps or flats of a
key signature one by one, and each note's line or space.

A note of the semantic encoding is one of ~1,660 pitch-and-duration classes and carries its pitch, not the sign
printed on it. These labels say what is on the paper instead (docs/decisions/0012-sign-head.md): the head
(:mod:`zoo.models.sign_head`) is trained with CTC on them, and the reading rules (:mod:`zoo.decoding.rules`)
read its output by them.
"""
from __future__ import annotations

from collections.abc import Sequence

from zoo.notation.theory import accidental_source, clef_lowest_line, staff_step
from zoo.notation.tokens import key_signature_fifths, note_pitch

SIGNS = ("sign-sharp", "sign-flat", "sign-natural", "sign-double-sharp", "sign-double-flat")
KINDS = ("rest", "clef", "keySignature", "timeSignature", "barline", "tie", "other")
KEY_SIGNS = ("key-sharp", "key-flat")  # the signs of a key signature, one label each, after its kind
LOWEST_STEP, HIGHEST_STEP = -12, 20  # notes further from the staff are labelled as these
NOTE_STEPS = tuple(f"note@{step}" for step in range(LOWEST_STEP, HIGHEST_STEP + 1))  # a note on step 0: the bottom line
ALPHABET = SIGNS + KINDS + KEY_SIGNS + NOTE_STEPS  # the head's classes; the CTC blank is one more, last
FIRST_STEP = ALPHABET.index(NOTE_STEPS[0])
TREBLE = clef_lowest_line("clef-G2")  # the bottom line of a staff read before any clef
SIGN_OF_ALTER = {1: "sign-sharp", -1: "sign-flat", 0: "sign-natural", 2: "sign-double-sharp", -2: "sign-double-flat"}
ALTER_OF_SIGN = tuple({v: k for k, v in SIGN_OF_ALTER.items()}[sign] for sign in SIGNS)


def _kind(token: str) -> str:
    if token.startswith(("rest-", "multirest-")):
        return "rest"
    prefix = token.split("-", 1)[0]
    return prefix if prefix in KINDS else "other"


def step_label(step: int) -> str:
    return NOTE_STEPS[min(max(step, LOWEST_STEP), HIGHEST_STEP) - LOWEST_STEP]


def labels(tokens: Sequence[str]) -> list[str]:
    """What a staff prints, in reading order: a sign before each note whose accidental is printed on it
    (:func:`zoo.notation.theory.accidental_source`), each note's staff step and each other token's kind, and
    after a key signature's kind one key sign per sharp or flat it prints."""
    out: list[str] = []
    lowest = TREBLE
    for i, token in enumerate(tokens):
        lowest = clef_lowest_line(token) or lowest
        pitch = note_pitch(token)
        if pitch is not None:
            if accidental_source(tokens, i) == "on the note":
                out.append(SIGN_OF_ALTER[pitch[2]])
            out.append(step_label(staff_step(token, lowest)))
        else:
            out.append(_kind(token))
        if fifths := key_signature_fifths(token):
            out += [KEY_SIGNS[fifths < 0]] * abs(fifths)
    return out


def label_ids(tokens: Sequence[str]) -> list[int]:
    return [ALPHABET.index(label) for label in labels(tokens)]
