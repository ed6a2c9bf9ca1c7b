"""A small second output that sees which accidental signs are printed, so that a note with none takes its
accidental from the key signature and the bar, by the rules a musician reads with.

Why: the semantic output has to carry a sharp of the key signature, or one printed earlier in the bar, to every
later note on that line or space, and the shipped recognizer often does not. On the staff test split, 143 of its
602 errors were such accidentals (docs/decisions/0012-sign-head.md). Its features still show what is printed where: a
linear layer on them (this head), trained with CTC on each staff's printed signs and token kinds
(:func:`labels`), finds the signs. The reading then keeps a note's accidental only where it agrees with the
context (:func:`zoo.notation.theory.implied_alter`) or the head sees a sign printed just before the note.

The head also reads a key signature sign by sign. The token output has to tell E♭ from A♭ major as two whole
classes, and in a clef it has seen little it may not (the PrIMuS fixture's E♭ major in the C1 clef, read as A♭
major). Where it doubts the key it read and its second choice is the key the head counts, the head's key is
taken (:data:`KEY_DOUBT`). The key comes first, since the notes take their accidentals from it.

And it reads each note as the line or space it is printed on (:data:`NOTE_STEPS`, counted from the bottom line, so
one class serves every clef and duration). A note of the token output is one of ~1,660 pitch-and-duration
classes, many of them rare; the head's few place classes each see thousands of notes. Where the token output
doubts a note (:data:`PLACE_DOUBT`), the head is sure of its place (:data:`PLACE_SURE`) and one of the output's
next choices is the same note value on that place, that one is taken (:func:`placed`). Notes read on the wrong
line or space were a third of the errors left on the staff validation staves (0012).

Where the head is sure which sign is printed before a note (:data:`PRINTED_SURE`), the note takes that sign's
alteration, as a musician reads it: the token output, which carries pitches, not signs, misses a printed sharp on a
long or rare note (17 of the 26 accidentals still misread on the staff validation staves were printed on the note;
docs/decisions/0013-reading-rules.md). A tie the head sees between two notes of one pitch, that the token output
left out, is read (mostly ties over a barline). Bars that overrun their time signature are fitted first
(:mod:`zoo.models.rhythm`).

:func:`read` and :func:`apply` are the rule on tokens (library decoding); :class:`GraphRule` is the same rule on
token ids inside the serving signature; tests hold them equal.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from functools import lru_cache
from itertools import takewhile

import numpy as np
import tensorflow as tf

from zoo.models import ctc, rhythm
from zoo.notation.theory import accidental_source, clef_lowest_line, implied_alter, key_alter, staff_step
from zoo.notation.tokens import key_signature_fifths, key_signature_token, note_pitch, note_value, with_alter

SIGNS = ("sign-sharp", "sign-flat", "sign-natural", "sign-double-sharp", "sign-double-flat")
KINDS = ("rest", "clef", "keySignature", "timeSignature", "barline", "tie", "other")
KEY_SIGNS = ("key-sharp", "key-flat")  # the signs of a key signature, one label each, after its kind
LOWEST_STEP, HIGHEST_STEP = -12, 20  # notes further from the staff are labelled as these
NOTE_STEPS = tuple(f"note@{step}" for step in range(LOWEST_STEP, HIGHEST_STEP + 1))  # a note on step 0: the bottom line
ALPHABET = SIGNS + KINDS + KEY_SIGNS + NOTE_STEPS  # the head's classes; the CTC blank is one more, last
_FIRST_STEP = ALPHABET.index(NOTE_STEPS[0])
TREBLE = clef_lowest_line("clef-G2")  # the bottom line of a staff read before any clef
_SIGN_OF_ALTER = {1: "sign-sharp", -1: "sign-flat", 0: "sign-natural", 2: "sign-double-sharp", -2: "sign-double-flat"}
WINDOW = 4  # output frames (16 image columns) before a note's first frame where its sign is looked for
THRESHOLD = 0.01  # below this much sign probability there, a note shows no sign (tuned on validation staves)
LAYER_NAME = "signs"
# The head's count of key signs is not as sure as the token output's key (on validation staves it miscounts more
# often), so it only settles a key the token output doubts: one it gives less than this probability, where its
# second choice is the key the head counts (tuned on the staff-keys supplements' validation staves; 0012).
KEY_DOUBT = 0.6
# A note the token output gives less than PLACE_DOUBT is moved to the staff step the head gives at least
# PLACE_SURE (the most over its first frame and PLACE_WINDOW frames either side), if one of the output's
# PLACE_CHOICES most probable classes there is the same note value on that step (tuned on the fixed 1,200 staff
# validation staves and their distorted copies; docs/decisions/0012-sign-head.md).
PLACE_DOUBT, PLACE_SURE, PLACE_WINDOW, PLACE_CHOICES = 0.9, 0.8, 1, 8
# A note on which the head sees one sign with at least this probability (most over the WINDOW frames before and
# at its first frame) takes that sign's alteration: a printed sharp makes the note sharp, whatever the token output
# read (tuned on the fixed 1,200 staff validation staves and their distorted copies; 0013).
PRINTED_SURE = 0.9
# A tie the head gives at least this probability, between two notes of one pitch (next to each other or either side
# of a barline), that the token output left out, is read (tuned as PRINTED_SURE; 0013).
TIE_SURE = 0.5
_TIE = ALPHABET.index("tie")
_ALTER_OF_SIGN = np.array([{v: k for k, v in _SIGN_OF_ALTER.items()}[sign] for sign in SIGNS], np.int32)


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
                out.append(_SIGN_OF_ALTER[pitch[2]])
            out.append(step_label(staff_step(token, lowest)))
        else:
            out.append(_kind(token))
        if fifths := key_signature_fifths(token):
            out += [KEY_SIGNS[fifths < 0]] * abs(fifths)
    return out


def label_ids(tokens: Sequence[str]) -> list[int]:
    return [ALPHABET.index(label) for label in labels(tokens)]


def build_layer() -> tf.keras.layers.Dense:
    return tf.keras.layers.Dense(len(ALPHABET) + 1, name=LAYER_NAME)


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


def read(decoded: ctc.Decoded, vocabulary: Sequence[str], probs: np.ndarray, head_probs: np.ndarray, length: int,
         key_classes: Mapping[int, int], threshold: float = THRESHOLD, writable: Set[str] | None = None
         ) -> tuple[list[str], list[float]]:
    """The token output's reading (``decoded`` from its softmax ``probs``) corrected by the head's softmax
    [frames, classes]: bars that overrun their time signature fitted (:func:`zoo.models.rhythm.timed`), doubted
    notes put on the staff step the head reads, a doubted key signature settled by the head's count, then
    accidentals: the one of a sign the head is sure of, else from context where the head sees no sign; last,
    the ties the head sees and the output left out (:func:`tied`). Returns the tokens and their confidences (a
    tie read by the head: its probability there)."""
    key = key_of_labels([ALPHABET[i] for i in ctc.greedy(head_probs, length).ids])
    if key is not None and key != second_key(decoded.ids, decoded.frames, probs, key_classes):
        key = None
    ids = rhythm.timed(decoded.ids, decoded.frames, vocabulary, probs)
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


_NO_ALTER = 99  # no note of the bar on this line or space yet (and: not a key signature token)
_STEPS = "CDEFGAB"
_PLACES = len(_STEPS) * 10  # lines and spaces: step × octave digit
_DIATONIC = len(_STEPS) * 10 + 1  # diatonic numbers of octaves 0-9 (music21's: C0 = 1)


class GraphRule:
    """:func:`apply` on padded id sequences in the graph, from lookup tables over the vocabulary."""

    def __init__(self, vocabulary: Sequence[str], threshold: float = THRESHOLD):
        index = {token: i for i, token in enumerate(vocabulary)}
        size = len(vocabulary) + 1  # the blank pads
        is_note, place, alter, fifths = np.zeros(size, bool), np.zeros(size, np.int32), np.zeros(size, np.int32), \
            np.full(size, _NO_ALTER, np.int32)
        respelled = np.tile(np.arange(size, dtype=np.int32)[:, None], (1, 5))
        step, value, lowest = np.zeros(size, np.int32), np.full(size, -1, np.int32), np.zeros(size, np.int32)
        values: dict[str, int] = {}
        for i, token in enumerate(vocabulary):
            lowest[i] = clef_lowest_line(token) or 0
            if (pitch := note_pitch(token)) is not None:
                is_note[i] = True
                place[i] = _STEPS.index(pitch[0]) * 10 + pitch[1]
                step[i] = staff_step(token, 0)  # diatonic number: less a clef's bottom line, its step on the staff
                value[i] = values.setdefault(note_value(token), len(values))
                alter[i] = pitch[2]
                for a in range(-2, 3):
                    respelled[i, a + 2] = index.get(with_alter(token, a), i)
            elif (k := key_signature_fifths(token)) is not None:
                fifths[i] = k
        self.is_note, self.place, self.alter, self.fifths = (tf.constant(x) for x in (is_note, place, alter, fifths))
        self.respelled = tf.constant(respelled)
        self.step, self.value, self.lowest = tf.constant(step), tf.constant(value), tf.constant(lowest)
        natural = np.full((max(len(values), 1), _DIATONIC), -1, np.int32)  # naturals() as [note value, diatonic]
        for (name, diatonic), i in naturals(tuple(vocabulary)).items():
            if 0 <= diatonic < _DIATONIC:
                natural[values[name], diatonic] = i
        self.natural = tf.constant(natural)
        self.barline = tf.constant([token == "barline" for token in vocabulary] + [False])
        self.grace = tf.constant([token.startswith("gracenote-") for token in vocabulary] + [False])
        self.tie_id = index.get("tie", size - 1)
        self.tie = tf.constant([token == "tie" for token in vocabulary] + [False])
        self.key_alter = tf.constant([[int(key_alter(k, s)) for s in _STEPS] for k in range(-7, 8)], tf.int32)
        self.key_token = tf.constant([index.get(key_signature_token(k), -1) for k in range(-7, 8)], tf.int32)
        self.threshold = threshold
        self.rhythm = rhythm.GraphRhythm(vocabulary)

    @staticmethod
    def _best_path(logits: tf.Tensor, lengths: tf.Tensor) -> tuple[tf.Tensor, tf.RaggedTensor]:
        """Greedy CTC: ids [B, L] padded with the blank, and each one's first frame."""
        blank = tf.shape(logits)[-1] - 1
        best = tf.argmax(logits, -1, output_type=tf.int32)
        previous = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=blank)
        starts = (best != blank) & (best != previous) & tf.sequence_mask(lengths, tf.shape(best)[1])
        ids = tf.ragged.boolean_mask(best, starts).to_tensor(default_value=blank)
        return ids, tf.ragged.boolean_mask(tf.broadcast_to(tf.range(tf.shape(best)[1]), tf.shape(best)), starts)

    @staticmethod
    def head_key(sign_logits: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """:func:`key_of_labels` of the head's greedy reading, per staff; ``_NO_ALTER`` for None."""
        labels, _ = GraphRule._best_path(sign_logits, lengths)
        labels = tf.pad(labels, [[0, 0], [0, 1]], constant_values=len(ALPHABET))  # argmax needs a column
        position = tf.range(tf.shape(labels)[1])[None, :]
        is_kind = labels == ALPHABET.index("keySignature")
        first = tf.argmax(tf.cast(is_kind, tf.int32), 1, output_type=tf.int32)[:, None]
        sharp, flat = labels == ALPHABET.index("key-sharp"), labels == ALPHABET.index("key-flat")
        ends = (position > first) & ~(sharp | flat)
        end = tf.where(tf.reduce_any(ends, 1), tf.argmax(tf.cast(ends, tf.int32), 1, output_type=tf.int32),
                       tf.shape(labels)[1])[:, None]
        run = (position > first) & (position < end)
        sharps, flats = (tf.reduce_sum(tf.cast(run & x, tf.int32), 1) for x in (sharp, flat))
        valid = tf.reduce_any(is_kind, 1) & ((sharps == 0) | (flats == 0)) & (sharps + flats <= 7)
        return tf.where(valid, sharps - flats, _NO_ALTER)

    def greedy(self, logits: tf.Tensor, sign_logits: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """Best-path CTC decoding [B, T, V+1] → ids [B, L] padded with the blank, as ``tf.nn.ctc_greedy_decoder``
        gives them, then the rule with the head's key and each note's sign evidence (:func:`read`)."""
        ids, frames = self._best_path(logits, lengths)
        counts = tf.cast(frames.row_lengths(), tf.int32)
        frames = frames.to_tensor(default_value=0)
        head = tf.nn.softmax(sign_logits)
        signs = tf.nn.max_pool1d(tf.pad(head[..., : len(SIGNS)], [[0, 0], [WINDOW, 0], [0, 0]]),
                                 WINDOW + 1, 1, "VALID")  # frame t: the most over frames t - WINDOW..t, per sign
        near = tf.nn.max_pool1d(tf.pad(tf.reduce_sum(head[..., : len(SIGNS)], -1), [[0, 0], [WINDOW, 0]])[..., None],
                                WINDOW + 1, 1, "VALID")[..., 0]  # the same for the probability of any sign
        seen = tf.gather(near, frames, batch_dims=1)
        sure = tf.gather(signs, frames, batch_dims=1)  # [B, L, signs]
        printed = tf.where(tf.reduce_max(sure, -1) >= PRINTED_SURE,
                           tf.gather(tf.constant(_ALTER_OF_SIGN), tf.argmax(sure, -1, output_type=tf.int32)),
                           _NO_ALTER)
        blank = tf.shape(logits)[-1] - 1
        probs = tf.nn.softmax(logits)
        counted = self.head_key(sign_logits, lengths)
        key = tf.where(counted == self.second_key(ids, frames, probs), counted, _NO_ALTER)
        at = tf.gather(probs, frames, batch_dims=1)  # [B, L, V+1]: each token's first frame
        ids = self.rhythm(ids, counts, at)
        steps = tf.where(tf.gather(at, ids, batch_dims=2) < PLACE_DOUBT, self.head_steps(head, frames, lengths),
                         _NO_ALTER)
        choices = tf.math.top_k(at, tf.minimum(PLACE_CHOICES, tf.shape(at)[-1])).indices
        ids = self(ids, tf.where(ids == blank, 1.0, seen), key, steps, choices, printed)
        return self.tied(ids, frames, head)

    def tied(self, ids: tf.Tensor, frames: tf.Tensor, head: tf.Tensor) -> tf.Tensor:
        """:func:`tied` on ids [B, L] padded with the blank, their frames [B, L] and the head's softmax [B, T, A+1]:
        ids with the ties inserted."""
        blank = tf.shape(self.is_note)[0] - 1

        def ahead(x: tf.Tensor, by: int, fill) -> tf.Tensor:
            return tf.pad(x, [[0, 0], [0, by]], constant_values=fill)[:, by:]

        over = tf.gather(self.barline, ahead(ids, 1, blank))
        after = tf.where(over, ahead(ids, 2, blank), ahead(ids, 1, blank))
        until = tf.where(over, ahead(frames, 2, 0), ahead(frames, 1, 0))
        same = tf.gather(self.is_note, ids) & ~tf.gather(self.grace, ids) & tf.gather(self.is_note, after) & \
            (tf.gather(self.place, ids) == tf.gather(self.place, after)) & \
            (tf.gather(self.alter, ids) == tf.gather(self.alter, after))
        tie = head[..., _TIE]  # [B, T]
        time = tf.range(tf.shape(tie)[1])[None, None, :]
        between = (time >= frames[..., None]) & (time <= until[..., None])
        seen = tf.reduce_max(tf.where(between, tie[:, None, :], 0.0), -1)
        insert = same & (seen >= TIE_SURE) & (ids != blank)
        pairs = tf.reshape(tf.stack([ids, tf.fill(tf.shape(ids), self.tie_id)], 2), [tf.shape(ids)[0], -1])
        keep = tf.reshape(tf.stack([ids != blank, insert], 2), tf.shape(pairs))
        return tf.ragged.boolean_mask(pairs, keep).to_tensor(default_value=blank)

    @staticmethod
    def head_steps(head: tf.Tensor, frames: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """:func:`head_steps` per token [B, L] (``_NO_ALTER`` for None), from the head's softmax [B, T, A+1] and
        token frames [B, L]."""
        steps = head[..., _FIRST_STEP:_FIRST_STEP + len(NOTE_STEPS)]
        steps *= tf.cast(tf.sequence_mask(lengths, tf.shape(steps)[1]), steps.dtype)[..., None]
        near = tf.gather(tf.nn.max_pool1d(steps, 2 * PLACE_WINDOW + 1, 1, "SAME"), frames, batch_dims=1)
        return tf.where(tf.reduce_max(near, -1) >= PLACE_SURE,
                        LOWEST_STEP + tf.argmax(near, -1, output_type=tf.int32), _NO_ALTER)

    def second_key(self, ids: tf.Tensor, frames: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
        """:func:`second_key` per staff (``_NO_ALTER`` for None), from ids and frames [B, L], probs [B, T, V+1]."""
        ids, frames = (tf.pad(x, [[0, 0], [0, 1]], constant_values=v) for x, v in ((ids, tf.shape(probs)[2] - 1),
                                                                                   (frames, 0)))  # a column
        first, has_key = self._first_key(ids)
        read = tf.gather(ids, first, batch_dims=1)
        row = tf.gather(probs, tf.gather(frames, first, batch_dims=1), batch_dims=1)  # [B, V+1]
        doubt = has_key & (tf.gather(row, read, batch_dims=1) < KEY_DOUBT)
        others = (self.fifths != _NO_ALTER)[None, :] & (tf.range(tf.shape(row)[1])[None, :] != read[:, None])
        second = tf.argmax(tf.where(others, row, -1.0), 1, output_type=tf.int32)
        return tf.where(doubt, tf.gather(self.fifths, second), _NO_ALTER)

    def _first_key(self, ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Per row of ids [B, L > 0]: where its first key signature is (0 if none), and whether it has one."""
        is_key = tf.gather(self.fifths, ids) != _NO_ALTER
        return tf.argmax(tf.cast(is_key, tf.int32), 1, output_type=tf.int32), tf.reduce_any(is_key, 1)

    def _with_key(self, ids: tf.Tensor, key: tf.Tensor) -> tf.Tensor:
        """The first key signature in each row of ``ids`` made ``key`` (where not ``_NO_ALTER`` and writable)."""
        first, has_key = self._first_key(ids)
        new = tf.gather(self.key_token, tf.clip_by_value(key, -7, 7) + 7)
        change = (key != _NO_ALTER) & has_key & (new >= 0)
        here = tf.one_hot(first, tf.shape(ids)[1], on_value=True, off_value=False) & change[:, None]
        return tf.where(here, new[:, None], ids)

    def __call__(self, ids: tf.Tensor, sign_evidence: tf.Tensor, key: tf.Tensor | None = None,
                 steps: tf.Tensor | None = None, choices: tf.Tensor | None = None,
                 printed_alters: tf.Tensor | None = None) -> tf.Tensor:
        """ids [B, L] (padded with the blank id), evidence [B, L], the head's key [B] (``_NO_ALTER``: none), the
        staff step [B, L] each doubted note is to be moved to (``_NO_ALTER``: none), the classes [B, L, K] it
        may take and the alteration of a sign the head is sure of [B, L] (``_NO_ALTER``: none) → ids with the
        notes moved (:func:`placed`), that key and accidentals from the signs or the context."""
        ids = tf.cast(ids, tf.int32)
        if steps is None:
            steps, choices = tf.fill(tf.shape(ids), _NO_ALTER), ids[..., None]
        if printed_alters is None:
            printed_alters = tf.fill(tf.shape(ids), _NO_ALTER)
        if key is not None:
            ids = tf.cond(tf.shape(ids)[1] > 0, lambda: self._with_key(ids, key), lambda: ids)
        batch = tf.shape(ids)[0]
        bar0 = tf.fill([batch, _PLACES], _NO_ALTER)
        zeros = tf.zeros([batch], tf.int32)
        no = tf.zeros([batch], bool)

        def step(k, out, bar, fifths, prev_place, prev_alter, have_prev, tie, lowest):
            token = ids[:, k]
            clef = tf.gather(self.lowest, token)
            lowest = tf.where(clef > 0, clef, lowest)
            token = self._placed(token, lowest, steps[:, k], choices[:, k])
            note, place, alter = (tf.gather(t, token) for t in (self.is_note, self.place, self.alter))
            tied = tie & have_prev
            from_bar = tf.gather(bar, place, batch_dims=1)
            from_key = tf.gather_nd(self.key_alter, tf.stack([fifths + 7, place // 10], 1))
            implied = tf.where(tied & (prev_place == place), prev_alter,
                               tf.where(from_bar != _NO_ALTER, from_bar, from_key))
            change = note & (sign_evidence[:, k] < self.threshold)
            sure = note & ~change & (printed_alters[:, k] != _NO_ALTER)
            implied = tf.where(sure, printed_alters[:, k], implied)
            candidate = tf.gather(tf.gather(self.respelled, token), tf.clip_by_value(implied + 2, 0, 4), batch_dims=1)
            new_token = tf.where(change | sure, candidate, token)
            new_alter = tf.gather(self.alter, new_token)
            here = tf.one_hot(place, _PLACES, on_value=True, off_value=False) & (note & ~tied)[:, None]
            bar = tf.where(here, new_alter[:, None], bar)
            bar = tf.where(tf.gather(self.barline, token)[:, None], _NO_ALTER, bar)
            key = tf.gather(self.fifths, token)
            fifths = tf.where(key != _NO_ALTER, key, fifths)
            return (k + 1, out.write(k, new_token), bar, fifths, tf.where(note, place, prev_place),
                    tf.where(note, new_alter, prev_alter), have_prev | note,
                    tf.where(note, False, tie | tf.gather(self.tie, token)), lowest)

        length = tf.shape(ids)[1]

        def run() -> tf.Tensor:
            out = tf.TensorArray(tf.int32, size=length)
            start = (0, out, bar0, zeros, zeros, zeros, no, no, tf.fill([batch], TREBLE))
            _, out, *_ = tf.while_loop(lambda k, *_: k < length, step, start)
            return tf.transpose(out.stack(), [1, 0])

        return tf.cond(length > 0, run, lambda: ids)  # an empty TensorArray cannot be stacked

    def _placed(self, token: tf.Tensor, lowest: tf.Tensor, step: tf.Tensor, choices: tf.Tensor) -> tf.Tensor:
        """:func:`placed` for one token per staff [B]: the first of ``choices`` [B, K] with its note value on
        ``step`` of a staff whose bottom line is ``lowest``, else that note value there without an accidental,
        else the token."""
        value = tf.gather(self.value, token)
        on = tf.clip_by_value(tf.gather(self.step, choices) - lowest[:, None], LOWEST_STEP, HIGHEST_STEP)
        fits = (tf.gather(self.value, choices) == value[:, None]) & (value >= 0)[:, None] & (on == step[:, None])
        first = tf.gather(choices, tf.argmax(tf.cast(fits, tf.int32), 1, output_type=tf.int32), batch_dims=1)
        diatonic = lowest + step
        inside = (step > LOWEST_STEP) & (step < HIGHEST_STEP) & (value >= 0) & (diatonic >= 0) & (diatonic < _DIATONIC)
        where = tf.stack([tf.maximum(value, 0), tf.clip_by_value(diatonic, 0, _DIATONIC - 1)], 1)
        built = tf.gather_nd(self.natural, where)
        return tf.where(tf.reduce_any(fits, 1), first, tf.where(inside & (built >= 0), built, token))
