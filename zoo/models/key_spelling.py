"""Key signatures read sign by sign, then named.

PrIMuS names a key signature with one token (``keySignature-EbM``) though the staff draws it as several signs,
so a CTC model has to count signs before it can emit one token. Counting is what the shipped recognizer got
wrong: of the 237 keys it misread on the ``staff-keys`` and ``staff-keys-clefs`` validation splits, 235 had the
right kind of sign, one to three too many or too few. A model trained with ``spell_keys`` emits one
:data:`FLAT` or :data:`SHARP` per sign instead, each on its own sign, like PrIMuS's agnostic encoding; its
decoders :func:`join` each run back into the semantic token, so nothing outside the network sees the signs.
A key of no signs (``keySignature-CM``) stays one token.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from zoo.datasets.semantic import key_signature_fifths, key_signature_token

FLAT = "keyAccidental-flat"
SHARP = "keyAccidental-sharp"
SIGNS = (FLAT, SHARP)
MAX_SIGNS = 7


def is_spelled(vocabulary: Sequence[str]) -> bool:
    """Whether a model with this output vocabulary reads key signatures sign by sign."""
    return all(sign in vocabulary for sign in SIGNS)


def spelled_vocabulary(vocabulary: Sequence[str]) -> list[str]:
    """``vocabulary`` with the two sign tokens appended (if missing)."""
    return list(vocabulary) + [sign for sign in SIGNS if sign not in vocabulary]


def spell(tokens: Sequence[str]) -> list[str]:
    """Semantic tokens → the spelled alphabet: each ``keySignature-`` of n signs becomes n sign tokens."""
    out: list[str] = []
    for token in tokens:
        fifths = key_signature_fifths(token)
        out.extend([SHARP if fifths > 0 else FLAT] * abs(fifths) if fifths else [token])
    return out


def join(tokens: Sequence[str], confidences: Sequence[float]) -> tuple[list[str], list[float]]:
    """Spelled tokens → semantic tokens; a run of signs becomes its key, with the run's lowest confidence.

    Runs longer than seven signs (no key has more) are named as seven.
    """
    out, confs, i = [], [], 0
    while i < len(tokens):
        j = i + 1
        if tokens[i] in SIGNS:
            while j < len(tokens) and tokens[j] == tokens[i]:
                j += 1
            count = min(j - i, MAX_SIGNS)
            out.append(key_signature_token(count if tokens[i] == SHARP else -count))
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
    blank, flat, sharp = len(vocabulary), vocabulary.index(FLAT), vocabulary.index(SHARP)
    names = tf.constant(list(vocabulary) + [""] + [key_signature_token(-n) for n in range(1, MAX_SIGNS + 1)]
                        + [key_signature_token(n) for n in range(1, MAX_SIGNS + 1)])
    ids = tf.cast(ids, tf.int32)
    batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
    sign = (ids == flat) | (ids == sharp)
    starts = ids != tf.pad(ids[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    runs = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1 + tf.range(batch)[:, None] * length
    count = tf.minimum(tf.gather(tf.math.unsorted_segment_sum(tf.ones_like(runs), runs, batch * length), runs),
                       MAX_SIGNS)
    key = blank + tf.where(ids == flat, count, MAX_SIGNS + count)
    joined = tf.where(sign, tf.where(starts, key, blank), ids)
    kept = joined != blank
    order = tf.argsort(tf.cast(~kept, tf.int32), axis=1, stable=True)
    return tf.gather(names, tf.gather(joined, order, batch_dims=1)), tf.reduce_sum(tf.cast(kept, tf.int32), axis=1)
