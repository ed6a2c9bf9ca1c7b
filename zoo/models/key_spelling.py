"""Key signatures read sign by sign, then named.

PrIMuS names a key signature with one token (``keySignature-EbM``) though the staff draws it as several signs,
so a CTC model has to count signs before it can emit one token. Counting is what the shipped recognizer got
wrong: of the 237 keys it misread on the ``staff-keys`` and ``staff-keys-clefs`` validation splits, 235 had the
right kind of sign, one to three too many or too few. A model trained with ``spell_keys`` emits one token per
sign instead, like PrIMuS's agnostic encoding, and its decoders :func:`join` each run of signs back into the
semantic token, so nothing outside the network sees the signs. A key of no signs (``keySignature-CM``) stays
one token.

Each sign is named by its place in the order keys add them (:data:`FLATS`: B♭ E♭ A♭ …, :data:`SHARPS`: F♯ C♯
G♯ …), not just "flat": CTC merges repeats of one token that no blank frame separates, and a first attempt with
a single flat and a single sharp token lost one sign in most of the keys it still misread (BENCHMARKS.md,
session 20). Named signs never repeat, and the furthest sign of a run names the key even when one before it is
missed.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from zoo.datasets.semantic import key_signature_fifths, key_signature_token

MAX_SIGNS = 7
FLATS = tuple(f"keyAccidental-{step}b" for step in "BEADGCF")
SHARPS = tuple(f"keyAccidental-{step}#" for step in "FCGDAEB")
SIGNS = FLATS + SHARPS


def is_spelled(vocabulary: Sequence[str]) -> bool:
    """Whether a model with this output vocabulary reads key signatures sign by sign."""
    return all(sign in vocabulary for sign in SIGNS)


def spelled_vocabulary(vocabulary: Sequence[str]) -> list[str]:
    """``vocabulary`` with the sign tokens appended (if missing)."""
    return list(vocabulary) + [sign for sign in SIGNS if sign not in vocabulary]


def sign_fifths(sign: str) -> int:
    """The key a sign completes: +n for the n-th sharp, −n for the n-th flat."""
    return SHARPS.index(sign) + 1 if sign in SHARPS else -(FLATS.index(sign) + 1)


def spell(tokens: Sequence[str]) -> list[str]:
    """Semantic tokens → the spelled alphabet: each ``keySignature-`` of n signs becomes its n signs."""
    out: list[str] = []
    for token in tokens:
        fifths = key_signature_fifths(token)
        out.extend([token] if not fifths else SHARPS[:fifths] if fifths > 0 else FLATS[:-fifths])
    return out


def name_run(signs: Sequence[str]) -> str:
    """The key of a run of signs: its furthest sign of the kind most of its signs are (the last sign's on a tie)."""
    sharps = sum(sign in SHARPS for sign in signs)
    sharp = sharps * 2 > len(signs) or (sharps * 2 == len(signs) and signs[-1] in SHARPS)
    return key_signature_token(max(abs(sign_fifths(s)) for s in signs if (s in SHARPS) == sharp) * (1 if sharp else -1))


def join(tokens: Sequence[str], confidences: Sequence[float]) -> tuple[list[str], list[float]]:
    """Spelled tokens → semantic tokens; a run of signs becomes its key (:func:`name_run`), with the run's
    lowest confidence."""
    out, confs, i = [], [], 0
    while i < len(tokens):
        j = i + 1
        if tokens[i] in SIGNS:
            while j < len(tokens) and tokens[j] in SIGNS:
                j += 1
            out.append(name_run(tokens[i:j]))
            confs.append(min(confidences[i:j]))
        else:
            out.append(tokens[i])
            confs.append(confidences[i])
        i = j
    return out, confs


def label_table(vocabulary: Sequence[str]) -> tf.RaggedTensor:
    """Row ``i``: the spelled ids of ``vocabulary[i]``, to turn semantic label ids into spelled ones in tf.data."""
    index = {token: i for i, token in enumerate(vocabulary)}
    rows = [[index[t] for t in spell([token])] for token in vocabulary]
    return tf.ragged.constant(rows, dtype=tf.int64)


def join_ids(ids: tf.Tensor, vocabulary: Sequence[str]) -> tuple[tf.Tensor, tf.Tensor]:
    """:func:`join` in the graph (for a serving signature): decoded ids [batch, L], padded with the blank id
    ``len(vocabulary)`` → (semantic tokens [batch, L] padded with "", token counts [batch])."""
    blank = len(vocabulary)
    names = tf.constant(list(vocabulary) + [""] + [key_signature_token(-n) for n in range(1, MAX_SIGNS + 1)]
                        + [key_signature_token(n) for n in range(1, MAX_SIGNS + 1)])
    fifths = [0] * (blank + 1)
    for sign in SIGNS:
        fifths[vocabulary.index(sign)] = sign_fifths(sign)
    ids = tf.cast(ids, tf.int32)
    batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
    signed = tf.gather(tf.constant(fifths), ids)  # +n: n-th sharp, −n: n-th flat, 0: not a sign
    sharp, flat = signed > 0, signed < 0
    sign = sharp | flat
    starts = ~sign | ~tf.pad(sign[:, :-1], [[0, 0], [1, 0]])  # every other token is a run of its own
    runs = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1 + tf.range(batch)[:, None] * length
    segments = batch * length

    def per_run(values: tf.Tensor, reduce=tf.math.unsorted_segment_max) -> tf.Tensor:
        return tf.gather(reduce(values, runs, segments), runs)

    position = tf.broadcast_to(tf.range(length)[None, :], tf.shape(ids))
    sharps = per_run(tf.cast(sharp, tf.int32), tf.math.unsorted_segment_sum)
    signs = per_run(tf.cast(sign, tf.int32), tf.math.unsorted_segment_sum)
    last_sharp_wins = per_run(tf.where(sharp, position, -1)) > per_run(tf.where(flat, position, -1))
    is_sharp_run = (sharps * 2 > signs) | ((sharps * 2 == signs) & last_sharp_wins)
    key = blank + tf.where(is_sharp_run, MAX_SIGNS + per_run(tf.maximum(signed, 0)), per_run(tf.maximum(-signed, 0)))
    joined = tf.where(sign, tf.where(starts, key, blank), ids)
    kept = joined != blank
    order = tf.argsort(tf.cast(~kept, tf.int32), axis=1, stable=True)
    return tf.gather(names, tf.gather(joined, order, batch_dims=1)), tf.reduce_sum(tf.cast(kept, tf.int32), axis=1)
