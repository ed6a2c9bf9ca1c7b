"""The sign head: a small second output of a score recognizer that sees what the staff prints (accidental signs,
each token's kind, a key signature's sharps or flats one by one, each note's line or space:
:mod:`zoo.notation.printed`), trained with CTC on the frozen recognizer's features (:mod:`zoo.training.sign_head`).

Why a head: the semantic output carries pitches, not signs, so it misses what a musician reads from the page —
the accidental a key signature or an earlier note of the bar gives, the line a rare note sits on. A linear layer
on the recurrent features finds the signs; the reading rules (:mod:`zoo.decoding.rules`) then correct the token
output with it (docs/decisions/0012-sign-head.md, 0013-reading-rules.md).
"""
from __future__ import annotations

import tensorflow as tf

from zoo.notation.printed import ALPHABET

LAYER_NAME = "signs"


def build_layer() -> tf.keras.layers.Dense:
    return tf.keras.layers.Dense(len(ALPHABET) + 1, name=LAYER_NAME)
