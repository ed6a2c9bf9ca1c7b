"""CTC samplers: the batched greedy decoder against the plain-Python reference, the prefix beam against an
exhaustive search, and one definition of confidence."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tests.unit.decoding import reference
from zoo.decoding import ctc, tta


def _one(path: ctc.Path, b: int = 0) -> tuple[list[int], list[float], list[int]]:
    n = int(path.counts[b])
    return (path.ids.numpy()[b, :n].tolist(), path.confidences.numpy()[b, :n].tolist(),
            path.frames.numpy()[b, :n].tolist())


def test_greedy_and_beam_decoding():
    probs = np.full((1, 6, 4), 0.01, np.float32)
    for t, k in enumerate([0, 0, 3, 1, 3, 1]):  # class 3 is the blank
        probs[0, t, k] = 0.97
    ids, confidences, frames = _one(ctc.greedy(probs, [6]))
    assert ids == [0, 1, 1] and frames == [0, 3, 5] and confidences == pytest.approx([0.97] * 3)
    assert _one(ctc.PrefixBeam(4)(probs, [6]))[0] == [0, 1, 1]
    path = ctc.greedy(probs, [6])
    assert ctc.sequence_confidence(path.confidences, path.counts).numpy() == pytest.approx([0.97])


def test_greedy_reads_only_each_staffs_frames_and_an_empty_reading_is_sure():
    probs = np.full((2, 4, 3), 0.01, np.float32)
    probs[:, :, 0] = 0.98  # token 0 on every frame
    path = ctc.greedy(probs, [4, 2])
    assert path.counts.numpy().tolist() == [1, 1] and path.ids.shape == (2, 1)
    blank = np.zeros((1, 3, 3), np.float32)
    blank[..., 2] = 1.0
    empty = ctc.greedy(blank, [3])
    assert empty.ids.shape == (1, 0)
    assert ctc.sequence_confidence(empty.confidences, empty.counts).numpy().tolist() == [1.0]


def test_batched_greedy_equals_the_reference_on_random_outputs():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.full(6, 0.3), size=(8, 30)).astype(np.float32)
    lengths = rng.integers(1, 31, 8)
    path = ctc.greedy(probs, lengths)
    for b in range(8):
        expected = reference.greedy(probs[b], int(lengths[b]))
        ids, confidences, frames = _one(path, b)
        assert ids == expected.ids and frames == expected.frames
        assert confidences == pytest.approx(expected.confidences, rel=1e-6)
        assert float(ctc.sequence_confidence(path.confidences, path.counts)[b]) == \
            pytest.approx(expected.confidence, rel=1e-5)


def test_beam_finds_the_labelling_that_no_single_path_wins():
    probs = np.array([[[0.4, 0.6], [0.4, 0.6]]], np.float32)  # token 0, blank 1: "" is the best path (0.36), [0] 0.64
    assert _one(ctc.greedy(probs, [2]))[0] == []
    assert _one(ctc.PrefixBeam(2)(probs, [2]))[0] == [0]


def test_beam_agrees_with_exhaustive_search_over_all_paths():
    rng = np.random.default_rng(0)
    steps, classes = 7, 4
    for _ in range(5):
        probs = rng.dirichlet(np.full(classes, 0.5), size=steps)
        totals: dict[tuple[int, ...], float] = {}
        for path in itertools.product(range(classes), repeat=steps):
            labels = tuple(k for i, k in enumerate(path) if k != classes - 1 and (i == 0 or k != path[i - 1]))
            totals[labels] = totals.get(labels, 0.0) + float(np.prod(probs[np.arange(steps), path]))
        best = max(totals, key=totals.get)
        assert tuple(ctc.PrefixBeam(200, prune=0.0).labelling(probs, steps)[0]) == best


def test_beam_confidences_follow_the_best_alignment():
    # two equal tokens then another: each token's confidence comes from its own frames (greedy alignment gave the
    # first C5 the second one's frame and the second C5 a confidence of about 0)
    probs = np.full((5, 4), 0.01)
    for t, k in enumerate([0, 3, 0, 3, 1]):
        probs[t, k] = 0.97
    probs[2, 0] = 0.99
    ids, confidences, frames = ctc.PrefixBeam(4).labelling(probs, 5)
    assert ids == [0, 0, 1]
    assert min(confidences) > 0.9
    assert frames == [0, 2, 4]  # where each token's run starts: a sign head looks just before it
    rng = np.random.default_rng(1)
    for _ in range(50):  # the greedy labelling's best path is the greedy path itself: one confidence definition
        probs = rng.dirichlet(np.full(4, 0.5), size=6).astype(np.float32)
        ids, confidences, frames = _one(ctc.greedy(probs[None], [6]))
        if ids:
            aligned, aligned_frames = ctc.align(probs, ids)
            assert aligned == pytest.approx(confidences)
            assert aligned_frames == frames


def test_a_beam_width_below_one_is_refused():
    with pytest.raises(ValueError, match="beam width must be >= 1"):
        ctc.PrefixBeam(0)


def test_readings_vote_by_count_then_confidence():
    def reading(tokens, confidence):
        return {"tokens": tokens, "confidence": confidence, "token_confidences": [confidence] * len(tokens)}

    a, b = ["clef-G2", "note-C5_quarter"], ["clef-G2", "note-Cb5_quarter"]
    result = tta.vote([reading(a, 0.6), reading(b, 0.99), reading(a, 0.7)])
    assert result["tokens"] == a and result["confidence"] == 0.7
    assert result["agreement"] == pytest.approx(2 / 3, abs=1e-4)
    assert tta.vote([reading(a, 0.6), reading(b, 0.9)])["tokens"] == b  # a tie goes to the more confident
    with pytest.raises(ValueError, match="no readings"):
        tta.vote([])


def test_graph_and_eager_greedy_agree():
    rng = np.random.default_rng(4)
    probs = tf.constant(rng.dirichlet(np.full(5, 0.3), size=(3, 12)).astype(np.float32))
    lengths = tf.constant([12, 7, 1])
    eager = ctc.greedy(probs, lengths)
    traced = tf.function(lambda p, n: ctc.greedy(p, n).ids)(probs, lengths)
    np.testing.assert_array_equal(eager.ids.numpy(), traced.numpy())
