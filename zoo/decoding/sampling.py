"""Samplers for the generators: next-event ids from logits, as swappable objects (keras-hub's samplers).

Graph code: the library's sampling loop and the served ``generate`` signature call the same object. Draws are
stateless (``tf.random.stateless_uniform`` seeded by the request's seed and the step), so a seed fixes the music,
and row b of a batch draws from row b of the noise, so a sample does not depend on how many were asked for.
"""
from __future__ import annotations

import tensorflow as tf

BLOCKED = -1e9  # the logit of an event the rules forbid here


class Sampler:
    """Picks one id per row of ``logits`` [B, V] among the ``allowed`` [B, V] ones."""

    def __call__(self, logits: tf.Tensor, allowed: tf.Tensor, temperature: tf.Tensor | float,
                 seed: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError


class GreedySampler(Sampler):
    """The most probable allowed id (temperature and seed are ignored): next-frame prediction uses it."""

    def __call__(self, logits, allowed, temperature=1.0, seed=None):
        return tf.argmax(tf.where(allowed, logits, BLOCKED), -1, output_type=tf.int32)


class RandomSampler(Sampler):
    """An id drawn from softmax(logits / temperature) over the allowed ids, by the Gumbel-max trick."""

    def __call__(self, logits, allowed, temperature, seed):
        scaled = tf.where(allowed, logits / tf.cast(temperature, logits.dtype), BLOCKED)
        u = tf.random.stateless_uniform(tf.shape(logits), seed, minval=1e-9, maxval=1.0)
        return tf.argmax(scaled - tf.math.log(-tf.math.log(u)), -1, output_type=tf.int32)


class TopKSampler(RandomSampler):
    """As :class:`RandomSampler`, among the ``k`` most probable allowed ids only."""

    def __init__(self, k: int = 20) -> None:
        self.k = k

    def __call__(self, logits, allowed, temperature, seed):
        masked = tf.where(allowed, logits, BLOCKED)
        kth = tf.math.top_k(masked, self.k).values[:, -1:]
        return super().__call__(logits, allowed & (masked >= kth), temperature, seed)


SAMPLERS = {"random": RandomSampler, "top_k": TopKSampler, "greedy": GreedySampler}


def get(name: str) -> Sampler:
    """A sampler by name (``random``, ``top_k``, ``greedy``)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]()
