"""A small second output that sees which accidental signs are printed, so that a note with none takes its
accidental from the key signature and the bar, by the rules a musician reads with.

Why: the semantic output has to carry a sharp of the key signature, or one printed earlier in the bar, to every
later note on that line or space, and the shipped recognizer often does not. On the staff test split, 143 of its
602 errors were such accidentals (session 24, BENCHMARKS.md). Its features still show what is printed where: a
linear layer on them (this head), trained with CTC on each staff's printed signs and token kinds
(:func:`labels`), finds the signs. The reading then keeps a note's accidental only where it agrees with the
context (:func:`zoo.datasets.semantic.implied_alter`) or the head sees a sign printed just before the note.

:func:`apply` is the rule on tokens (library decoding); :class:`GraphRule` is the same rule on token ids inside
the serving signature; tests hold them equal.
"""
from __future__ import annotations

from collections.abc import Sequence, Set

import numpy as np
import tensorflow as tf

from zoo.datasets.accidentals import key_alter
from zoo.datasets.semantic import accidental_source, implied_alter, key_signature_fifths, note_pitch, with_alter

SIGNS = ("sign-sharp", "sign-flat", "sign-natural", "sign-double-sharp", "sign-double-flat")
KINDS = ("note", "rest", "clef", "keySignature", "timeSignature", "barline", "tie", "other")
ALPHABET = SIGNS + KINDS  # the head's classes; the CTC blank is one more, last
_SIGN_OF_ALTER = {1: "sign-sharp", -1: "sign-flat", 0: "sign-natural", 2: "sign-double-sharp", -2: "sign-double-flat"}
WINDOW = 4  # output frames (16 image columns) before a note's first frame where its sign is looked for
THRESHOLD = 0.01  # below this much sign probability there, a note shows no sign (tuned on validation staves)
LAYER_NAME = "signs"


def _kind(token: str) -> str:
    if token.startswith(("note-", "gracenote-")):
        return "note"
    if token.startswith(("rest-", "multirest-")):
        return "rest"
    prefix = token.split("-", 1)[0]
    return prefix if prefix in KINDS else "other"


def labels(tokens: Sequence[str]) -> list[str]:
    """What a staff prints, in reading order: a sign before each note whose accidental is printed on it
    (:func:`zoo.datasets.semantic.accidental_source`), and each token's kind."""
    out: list[str] = []
    for i, token in enumerate(tokens):
        pitch = note_pitch(token)
        if pitch is not None and accidental_source(tokens, i) == "on the note":
            out.append(_SIGN_OF_ALTER[pitch[2]])
        out.append(_kind(token))
    return out


def label_ids(tokens: Sequence[str]) -> list[int]:
    return [ALPHABET.index(label) for label in labels(tokens)]


def build_layer() -> tf.keras.layers.Dense:
    return tf.keras.layers.Dense(len(ALPHABET) + 1, name=LAYER_NAME)


def sign_probability(sign_logits: tf.Tensor) -> tf.Tensor:
    """[..., T] probability that a frame shows an accidental sign."""
    return tf.reduce_sum(tf.nn.softmax(sign_logits)[..., : len(SIGNS)], axis=-1)


def evidence(sign_prob: np.ndarray, frames: Sequence[int], window: int = WINDOW) -> list[float]:
    """For tokens starting at ``frames``: the most sign probability in the ``window`` frames before and at each."""
    return [float(sign_prob[max(0, f - window): f + 1].max()) for f in frames]


def apply(tokens: Sequence[str], sign_evidence: Sequence[float], threshold: float = THRESHOLD,
          vocabulary: Set[str] | None = None) -> list[str]:
    """``tokens`` with each note that shows no sign (evidence below ``threshold``) given the accidental its key
    signature, bar or tie implies; notes whose new token is not in ``vocabulary`` stay as read."""
    out = list(tokens)
    for i, (token, seen) in enumerate(zip(tokens, sign_evidence)):
        if seen >= threshold or note_pitch(token) is None:
            continue
        new = with_alter(token, implied_alter(out, i))
        if vocabulary is None or new in vocabulary:
            out[i] = new
    return out


_NO_ALTER = 99  # no note of the bar on this line or space yet (and: not a key signature token)
_STEPS = "CDEFGAB"
_PLACES = len(_STEPS) * 10  # lines and spaces: step × octave digit


class GraphRule:
    """:func:`apply` on padded id sequences in the graph, from lookup tables over the vocabulary."""

    def __init__(self, vocabulary: Sequence[str], threshold: float = THRESHOLD):
        index = {token: i for i, token in enumerate(vocabulary)}
        size = len(vocabulary) + 1  # the blank pads
        is_note, place, alter, fifths = np.zeros(size, bool), np.zeros(size, np.int32), np.zeros(size, np.int32), \
            np.full(size, _NO_ALTER, np.int32)
        respelled = np.tile(np.arange(size, dtype=np.int32)[:, None], (1, 5))
        for i, token in enumerate(vocabulary):
            if (pitch := note_pitch(token)) is not None:
                is_note[i] = True
                place[i] = _STEPS.index(pitch[0]) * 10 + pitch[1]
                alter[i] = pitch[2]
                for a in range(-2, 3):
                    respelled[i, a + 2] = index.get(with_alter(token, a), i)
            elif (k := key_signature_fifths(token)) is not None:
                fifths[i] = k
        self.is_note, self.place, self.alter, self.fifths = (tf.constant(x) for x in (is_note, place, alter, fifths))
        self.respelled = tf.constant(respelled)
        self.barline = tf.constant([token == "barline" for token in vocabulary] + [False])
        self.tie = tf.constant([token == "tie" for token in vocabulary] + [False])
        self.key_alter = tf.constant([[int(key_alter(k, s)) for s in _STEPS] for k in range(-7, 8)], tf.int32)
        self.threshold = threshold

    def greedy(self, logits: tf.Tensor, sign_logits: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """Best-path CTC decoding [B, T, V+1] → ids [B, L] padded with the blank, as ``tf.nn.ctc_greedy_decoder``
        gives them, then the rule with each note's sign evidence (:func:`evidence`)."""
        blank = tf.shape(logits)[-1] - 1
        best = tf.argmax(logits, -1, output_type=tf.int32)
        previous = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=blank)
        starts = (best != blank) & (best != previous) & tf.sequence_mask(lengths, tf.shape(best)[1])
        ids = tf.ragged.boolean_mask(best, starts).to_tensor(default_value=blank)
        frames = tf.ragged.boolean_mask(tf.broadcast_to(tf.range(tf.shape(best)[1]), tf.shape(best)), starts)
        near = tf.nn.max_pool1d(tf.pad(sign_probability(sign_logits), [[0, 0], [WINDOW, 0]])[..., None],
                                WINDOW + 1, 1, "VALID")[..., 0]  # frame t: the most over frames t - WINDOW..t
        seen = tf.gather(near, frames.to_tensor(default_value=0), batch_dims=1)
        return self(ids, tf.where(ids == blank, 1.0, seen))

    def __call__(self, ids: tf.Tensor, sign_evidence: tf.Tensor) -> tf.Tensor:
        """ids [B, L] (padded with the blank id), evidence [B, L] → ids with accidentals from context."""
        ids = tf.cast(ids, tf.int32)
        batch = tf.shape(ids)[0]
        bar0 = tf.fill([batch, _PLACES], _NO_ALTER)
        zeros = tf.zeros([batch], tf.int32)
        no = tf.zeros([batch], bool)

        def step(k, out, bar, fifths, prev_place, prev_alter, have_prev, tie):
            token = ids[:, k]
            note, place, alter = (tf.gather(t, token) for t in (self.is_note, self.place, self.alter))
            tied = tie & have_prev
            from_bar = tf.gather(bar, place, batch_dims=1)
            from_key = tf.gather_nd(self.key_alter, tf.stack([fifths + 7, place // 10], 1))
            implied = tf.where(tied & (prev_place == place), prev_alter,
                               tf.where(from_bar != _NO_ALTER, from_bar, from_key))
            change = note & (sign_evidence[:, k] < self.threshold)
            candidate = tf.gather(tf.gather(self.respelled, token), tf.clip_by_value(implied + 2, 0, 4), batch_dims=1)
            new_token = tf.where(change, candidate, token)
            new_alter = tf.gather(self.alter, new_token)
            here = tf.one_hot(place, _PLACES, on_value=True, off_value=False) & (note & ~tied)[:, None]
            bar = tf.where(here, new_alter[:, None], bar)
            bar = tf.where(tf.gather(self.barline, token)[:, None], _NO_ALTER, bar)
            key = tf.gather(self.fifths, token)
            fifths = tf.where(key != _NO_ALTER, key, fifths)
            return (k + 1, out.write(k, new_token), bar, fifths, tf.where(note, place, prev_place),
                    tf.where(note, new_alter, prev_alter), have_prev | note,
                    tf.where(note, False, tie | tf.gather(self.tie, token)))

        length = tf.shape(ids)[1]

        def run() -> tf.Tensor:
            out = tf.TensorArray(tf.int32, size=length)
            _, out, *_ = tf.while_loop(lambda k, *_: k < length, step, (0, out, bar0, zeros, zeros, zeros, no, no))
            return tf.transpose(out.stack(), [1, 0])

        return tf.cond(length > 0, run, lambda: ids)  # an empty TensorArray cannot be stacked
