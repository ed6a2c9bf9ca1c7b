"""The reading rules in plain Python, token by token, as a musician would apply them: the reference the batched
TensorFlow rules (zoo.decoding) are held to. Not product code; the thresholds are ReadingConfig's defaults."""
from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from functools import lru_cache
from itertools import takewhile

import numpy as np

from zoo.decoding.config import ReadingConfig
from zoo.notation.printed import (
    ALPHABET,
    ALTER_OF_SIGN,
    FIRST_STEP,
    HIGHEST_STEP,
    KEY_SIGNS,
    LOWEST_STEP,
    NOTE_STEPS,
    SIGNS,
    TREBLE,
    step_label,
)
from zoo.notation.theory import clef_lowest_line, implied_alter, staff_step
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

_DEFAULT = ReadingConfig()
COST = _DEFAULT.rhythm.cost
KEY_DOUBT = _DEFAULT.key.doubt
PLACE_DOUBT, PLACE_SURE, PLACE_WINDOW, PLACE_CHOICES = (_DEFAULT.place.doubt, _DEFAULT.place.sure,
                                                        _DEFAULT.place.window, _DEFAULT.place.choices)
WINDOW, THRESHOLD, PRINTED_SURE = _DEFAULT.accidentals.window, _DEFAULT.accidentals.threshold, \
    _DEFAULT.accidentals.printed_sure
TIE_SURE = _DEFAULT.ties.sure
_TIE = ALPHABET.index("tie")
_FIRST_STEP = FIRST_STEP
_ALTER_OF_SIGN = np.array(ALTER_OF_SIGN, np.int32)
Units = int | np.integer | np.ndarray


@dataclass(frozen=True)
class Decoded:
    ids: list[int]
    confidences: list[float]  # per token: the highest frame probability of the token's run
    frames: list[int]  # per token: the first frame of its run on the path

    @property
    def confidence(self) -> float:
        return sequence_confidence(self.confidences)


def sequence_confidence(confidences: list[float]) -> float:
    """Geometric mean of token confidences (1.0 for an empty sequence)."""
    return float(np.exp(np.mean(np.log(np.maximum(confidences, 1e-12))))) if confidences else 1.0


def greedy(probs: np.ndarray, length: int) -> Decoded:
    """Best path: argmax per frame, merge repeats, drop blanks."""
    blank = probs.shape[-1] - 1
    best = probs[:length].argmax(-1)
    ids, confs, frames, prev = [], [], [], blank
    for t, k in enumerate(best):
        if k != blank and k != prev:
            ids.append(int(k))
            confs.append(float(probs[t, k]))
            frames.append(t)
        elif k != blank and k == prev:
            confs[-1] = max(confs[-1], float(probs[t, k]))
        prev = k
    return Decoded(ids, confs, frames)




def _sign(token: str) -> str | None:
    """What readings of one note or rest with another duration share; a grace note counts as its note's reading."""
    return without_duration("note-" + token.removeprefix("gracenote-") if token.startswith("gracenote-") else token)


class _Tables:
    """Per vocabulary id (and the blank, last): duration units in the bar (0 for a grace note, -1: none), bar units
    of a time signature (-1: none), whether it is a barline, a rest or a multi-measure rest, and the ids of the
    same sign with another duration or as a grace note (padded with the blank)."""

    def __init__(self, vocabulary: Sequence[str]):
        size = len(vocabulary) + 1
        self.units = np.full(size, -1, np.int32)
        self.meter = np.full(size, -1, np.int32)
        self.barline = np.array([t == "barline" for t in vocabulary] + [False])
        self.rest = np.array([t.startswith("rest-") for t in vocabulary] + [False])
        self.multirest = np.array([t.startswith("multirest-") for t in vocabulary] + [False])
        signs: dict[str, list[int]] = {}
        for i, token in enumerate(vocabulary):
            self.units[i] = 0 if token.startswith("gracenote-") else duration_units(token) or -1
            self.meter[i] = bar_units(token) or -1
            if (sign := _sign(token)) is not None:
                signs.setdefault(sign, []).append(i)
        width = max((len(ids) - 1 for ids in signs.values()), default=0) or 1
        self.others = np.full((size, width), size - 1, np.int32)
        for ids in signs.values():
            for i in ids:
                row = [j for j in ids if j != i]
                self.others[i, : len(row)] = row


@lru_cache(maxsize=4)
def _tables(vocabulary: tuple[str, ...]) -> _Tables:
    return _Tables(vocabulary)


def bars(ids: Sequence[int], tables: _Tables) -> list[tuple[int, int, int]]:
    """(first, end, units over its time signature: negative when short) of each bar of an id sequence that does
    not add up to its time signature and is neither a lone rest nor holds a multi-measure rest: the tokens up to
    and including each barline, and after the last."""
    out, start, meter = [], 0, -1
    for j, token_id in enumerate(ids):
        meter = tables.meter[token_id] if tables.meter[token_id] >= 0 else meter
        if tables.barline[token_id] or j == len(ids) - 1:
            members = ids[start: j + 1]
            units = [tables.units[i] for i in members if tables.units[i] > 0]
            only_rest = len(units) == 1 and any(tables.rest[i] for i in members)
            multirest = any(tables.multirest[i] for i in members)
            if meter >= 0 and units and sum(units) != meter and not only_rest and not multirest:
                out.append((start, j + 1, int(sum(units) - meter)))
            start = j + 1
    return out


def _fits(units: Units, other: Units, excess: Units) -> Units:
    """Whether reading a sign of ``units`` as ``other`` units mends a bar ``excess`` units over (under) its time
    signature: any duration or a grace note for a bar that overruns, only one more dot (× 3/2) for a short one.
    Elementwise on numbers, numpy arrays and tensors alike, so the graph rule asks the same question."""
    return (other - units == -excess) & ((excess > 0) | (2 * other == 3 * units))


def timed(ids: Sequence[int], frames: Sequence[int], vocabulary: Sequence[str], probs: np.ndarray) -> list[int]:
    """``ids`` with, in each bar that overruns its time signature, the one duration changed that makes it fit,
    and in each short bar the one dot added that fills it (the most probable under the token output's softmax
    ``probs`` [frames, classes], within :data:`COST`)."""
    tables, out = _tables(tuple(vocabulary)), list(ids)
    for first, end, excess in bars(ids, tables):
        best: tuple[float, int, int] | None = None
        for j in range(first, end):
            if tables.units[ids[j]] < 0:
                continue
            for other in tables.others[ids[j]]:
                if other == len(vocabulary) or not _fits(tables.units[ids[j]], tables.units[other], excess):  # padding
                    continue
                with np.errstate(divide="ignore"):  # a class the output gives nothing costs infinitely much
                    cost = np.log(probs[frames[j], ids[j]]) - np.log(probs[frames[j], other])
                if cost <= COST and (best is None or cost < best[0]):
                    best = (cost, j, int(other))
        if best is not None:
            out[best[1]] = best[2]
    return out



def evidence(sign_prob: np.ndarray, frames: Sequence[int], window: int = WINDOW) -> list[float]:
    """For tokens starting at ``frames``: the most sign probability in the ``window`` frames before and at each."""
    return [float(sign_prob[max(0, f - window): f + 1].max()) for f in frames]


def printed(head_probs: np.ndarray, frames: Sequence[int], window: int = WINDOW) -> list[int | None]:
    """For tokens starting at ``frames``: the alteration of the sign the head is sure is printed just before each
    (:data:`PRINTED_SURE`), or None."""
    signs = head_probs[:, : len(SIGNS)]
    near = [signs[max(0, f - window): f + 1].max(0) for f in frames]
    return [int(_ALTER_OF_SIGN[p.argmax()]) if p.max() >= PRINTED_SURE else None for p in near]


def key_of_labels(labels: Sequence[str]) -> int | None:
    """Sharps (> 0) or flats (< 0) of the first key signature in the head's reading: the run of key signs after
    its first ``keySignature``; None if it reads no key signature, or one of sharps and flats mixed."""
    if "keySignature" not in labels:
        return None
    run = list(takewhile(lambda label: label in KEY_SIGNS, labels[labels.index("keySignature") + 1:]))
    sharps, flats = run.count("key-sharp"), run.count("key-flat")
    return None if (sharps and flats) or len(run) > 7 else sharps - flats


def key_classes(vocabulary: Sequence[str]) -> dict[int, int]:
    """Class id → fifths, for the vocabulary's key signature tokens (what :func:`second_key` looks among)."""
    return {i: k for i, token in enumerate(vocabulary) if (k := key_signature_fifths(token)) is not None}


def second_key(ids: Sequence[int], frames: Sequence[int], probs: np.ndarray, key_classes: Mapping[int, int]
               ) -> int | None:
    """The token output's second choice of key (fifths) at the first key signature it read (class ids whose
    fifths ``key_classes`` gives), if it gave the key it read less than ``KEY_DOUBT`` there; else None."""
    first = next((k for k, i in enumerate(ids) if i in key_classes), None)
    if first is None or probs[frames[first], ids[first]] >= KEY_DOUBT:
        return None
    row = probs[frames[first]]
    return key_classes[max((c for c in key_classes if c != ids[first]), key=row.__getitem__)]


def head_steps(head_probs: np.ndarray, frames: Sequence[int], length: int) -> list[int | None]:
    """For tokens starting at ``frames``: the staff step the head reads there, if it is sure of it."""
    steps = head_probs[:length, _FIRST_STEP:_FIRST_STEP + len(NOTE_STEPS)]
    near = [steps[max(0, f - PLACE_WINDOW): f + PLACE_WINDOW + 1].max(0) for f in frames]
    return [LOWEST_STEP + int(p.argmax()) if p.max() >= PLACE_SURE else None for p in near]


@lru_cache(maxsize=4)
def naturals(vocabulary: tuple[str, ...]) -> dict[tuple[str, int], int]:
    """(note value, diatonic number) → the id of that note without an accidental, for the notes the vocabulary has."""
    return {(note_value(token), staff_step(token, 0)): i for i, token in enumerate(vocabulary)
            if (pitch := note_pitch(token)) is not None and pitch[2] == 0}


def placed(ids: Sequence[int], frames: Sequence[int], vocabulary: Sequence[str], probs: np.ndarray,
           head_probs: np.ndarray, length: int) -> list[int]:
    """``ids`` with each note the token output doubts (below :data:`PLACE_DOUBT` at its first frame) moved to
    the staff step the head is sure of there: the most probable of the output's :data:`PLACE_CHOICES` best
    classes at that frame that is the same note value on that step, else that note value on that step without
    an accidental (the key and the bar give it one afterwards), unless the step is beyond the head's range."""
    out, lowest, natural = list(ids), TREBLE, naturals(tuple(vocabulary))
    for j, (token_id, frame, seen) in enumerate(zip(ids, frames, head_steps(head_probs, frames, length))):
        token = vocabulary[token_id]
        lowest = clef_lowest_line(token) or lowest
        if seen is None or note_pitch(token) is None or probs[frame, token_id] >= PLACE_DOUBT:
            continue
        choices = np.argsort(-probs[frame], kind="stable")[:PLACE_CHOICES]  # the read note is the first
        inside = LOWEST_STEP < seen < HIGHEST_STEP
        built = natural.get((note_value(token), lowest + seen), token_id) if inside else token_id
        out[j] = next((int(c) for c in choices if c < len(vocabulary) and note_value(vocabulary[c]) == note_value(token)
                       and step_label(staff_step(vocabulary[c], lowest)) == step_label(seen)), built)
    return out


def read(decoded: Decoded, vocabulary: Sequence[str], probs: np.ndarray, head_probs: np.ndarray, length: int,
         key_classes: Mapping[int, int], threshold: float = THRESHOLD, writable: Set[str] | None = None
         ) -> tuple[list[str], list[float]]:
    """The token output's reading (``decoded`` from its softmax ``probs``) corrected by the head's softmax
    [frames, classes]: bars that overrun their time signature fitted (:func:`zoo.models.rhythm.timed`), doubted
    notes put on the staff step the head reads, a doubted key signature settled by the head's count, then
    accidentals: the one of a sign the head is sure of, else from context where the head sees no sign; last,
    the ties the head sees and the output left out (:func:`tied`). Returns the tokens and their confidences (a
    tie read by the head: its probability there)."""
    key = key_of_labels([ALPHABET[i] for i in greedy(head_probs, length).ids])
    if key is not None and key != second_key(decoded.ids, decoded.frames, probs, key_classes):
        key = None
    ids = timed(decoded.ids, decoded.frames, vocabulary, probs)
    ids = placed(ids, decoded.frames, vocabulary, probs, head_probs, length)
    sign_prob = head_probs[:length, : len(SIGNS)].sum(-1)
    tokens = apply([vocabulary[i] for i in ids], evidence(sign_prob, decoded.frames), threshold, writable, key,
                   printed(head_probs[:length], decoded.frames))
    out, confidences = [], []
    for token, confidence, tie in zip(tokens, decoded.confidences, tied(tokens, decoded.frames, head_probs[:length])):
        out.append(token)
        confidences.append(confidence)
        if tie is not None:
            out.append("tie")
            confidences.append(tie)
    return out, confidences


def tied(tokens: Sequence[str], frames: Sequence[int], head_probs: np.ndarray) -> list[float | None]:
    """Per token: where a tie is to follow it, the head's tie probability (:data:`TIE_SURE` or more, the most
    from its first frame to the next note's), else None. A tie joins a note (not a grace note) to the next token,
    or to the one after a barline, if that is a note of the same pitch and no tie was read."""
    out: list[float | None] = [None] * len(tokens)
    for j, token in enumerate(tokens):
        k = j + 2 if j + 2 < len(tokens) and tokens[j + 1] == "barline" else j + 1
        if k >= len(tokens) or token.startswith("gracenote-") or note_pitch(token) is None or \
                note_pitch(tokens[k]) != note_pitch(token):
            continue
        seen = float(head_probs[frames[j]: frames[k] + 1, _TIE].max())
        out[j] = seen if seen >= TIE_SURE else None
    return out


def apply(tokens: Sequence[str], sign_evidence: Sequence[float], threshold: float = THRESHOLD,
          vocabulary: Set[str] | None = None, key: int | None = None,
          printed_alters: Sequence[int | None] | None = None) -> list[str]:
    """``tokens`` with the first key signature made ``key`` (if given), then each note given the alteration of
    the sign the head is sure is printed on it (``printed_alters``, None: not sure), or, if it shows no sign
    (evidence below ``threshold``), the accidental its key signature, bar or tie implies; tokens whose new form
    is not in ``vocabulary`` stay as read."""
    out = list(tokens)
    keys = [i for i, token in enumerate(out) if key_signature_fifths(token) is not None]
    if key is not None and keys and (vocabulary is None or key_signature_token(key) in vocabulary):
        out[keys[0]] = key_signature_token(key)
    sure = printed_alters if printed_alters is not None else [None] * len(tokens)
    for i, (token, seen, alter) in enumerate(zip(tokens, sign_evidence, sure)):
        if note_pitch(token) is None or seen >= threshold and alter is None:
            continue
        new = with_alter(token, implied_alter(out, i) if seen < threshold else alter)
        if vocabulary is None or new in vocabulary:
            out[i] = new
    return out


