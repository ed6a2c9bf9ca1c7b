"""The generators' pieces that need no data: event cleaning, rolls, MIDI, sampling rules, seeds and the judges."""
from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.datasets import events as ev
from zoo.generation import judge
from zoo.models.generation import (
    BOS,
    GENRES,
    GenerationInputError,
    check_settings,
    notes_of_roll,
    primer_events,
    program_range,
)
from zoo.pretrained import WeightsError

ON, OFF, SHIFT = ev.NOTE_ON, ev.NOTE_OFF, ev.TIME_SHIFT


def shift(ms: int) -> int:
    return SHIFT + ms // 10 - 1


def test_notes_of_drops_orphan_offs_ends_restrikes_and_closes_hanging_notes():
    ids = [ON + 60, shift(500), OFF + 62, ON + 60, shift(500), ON + 64, shift(200)]
    notes = ev.notes_of(ids)
    assert notes == [ev.Note(60, 0.0, 0.5), ev.Note(60, 0.5, 1.2), ev.Note(64, 1.0, 1.2)]


def test_notes_of_folds_pitches_into_the_range_and_caps_long_notes():
    notes = ev.notes_of([ON + 20, ON + 110, shift(1000)] * 1 + [shift(1000)] * 5, low=40, high=90)
    assert {n.pitch for n in notes} == {44, 86}
    assert all(n.end - n.start <= ev.MAX_NOTE_SECONDS for n in notes)


def test_events_notes_midi_and_rolls_round_trip():
    notes = [ev.Note(60, 0.0, 0.5), ev.Note(64, 0.25, 1.0), ev.Note(67, 1.0, 1.5)]
    assert ev.notes_of(ev.events_of_notes(notes)) == notes
    marks = ev.midi_note_events(ev.notes_to_midi(notes, program=40))
    assert ev.notes_of(ev.encode_window(marks, 0.0, 2.0)) == notes
    roll = ev.piano_roll(notes, 40, 0.05)
    assert roll.shape == (40, 88) and roll[:10, 60 - ev.PIANO_LOW].all() and not roll[10:, 60 - ev.PIANO_LOW].any()
    assert ev.notes_of_roll(roll, 0.05) == notes


def test_primer_events_keep_the_time_to_the_cut_and_what_still_sounds():
    ids, sounding = primer_events([ev.Note(60, 0.0, 0.5), ev.Note(64, 0.25, 3.0)], cut=1.0)
    assert ev.event_seconds(ids) == pytest.approx(1.0)
    assert sounding[64] and not sounding[60]
    assert BOS not in ids


@pytest.fixture(scope="module")
def tiny():
    return zoo.create_model("gen-lstm", layers=2, units=16, token_dim=8, genre_dim=4)


def test_the_same_seed_gives_the_same_music_whatever_the_count(tiny):
    a = tiny.generate("fiddle", seconds=2, count=2, seed=7)
    b = tiny.generate("fiddle", seconds=2, count=4, seed=7)
    c = tiny.generate("fiddle", seconds=2, count=2, seed=8)
    assert [s.events for s in a] == [s.events for s in b[:2]]
    assert [s.events for s in a] != [s.events for s in c]


def test_genre_guidance_is_the_models_default_and_mixes_the_two_logits(tiny):
    """logits = unconditioned + guidance × (conditioned − unconditioned): guidance 0 samples exactly what no genre
    does, and the model's configured guidance is what generate (and the served signature) use."""
    assert tiny.guidance == 2.0
    default = [s.events for s in tiny.generate("fiddle", seconds=2, count=2, seed=4)]
    assert default == [s.events for s in tiny.generate("fiddle", seconds=2, count=2, seed=4, guidance=2.0)]
    unconditioned = [s.events for s in tiny.generate(None, seconds=2, count=2, seed=4, guidance=1.0, program=40)]
    assert unconditioned == [s.events for s in tiny.generate("fiddle", seconds=2, count=2, seed=4, guidance=0.0)]


def test_sampled_events_are_playable(tiny):
    """No NOTE_OFF of a silent pitch, no NOTE_ON of a sounding one, the program's range, at most 8 at once, and the
    clip lasts what was asked."""
    low, high = program_range(40)
    for sample in tiny.generate("folk", seconds=3, count=4, seed=1, program=40, temperature=2.0):
        on: set[int] = set()
        for e in sample.events:
            if e < OFF:
                assert e not in on and low <= e <= high
                on.add(e)
                assert len(on) <= 8
            elif e < SHIFT:
                assert e - OFF in on
                on.discard(e - OFF)
        assert ev.event_seconds(sample.events) == pytest.approx(3.0, abs=1.0)
        assert all(0 <= n.start < n.end <= 3.0 for n in sample.notes)


def test_a_primer_is_continued(tiny):
    primer = [ev.Note(62, 0.0, 0.4), ev.Note(66, 0.4, 0.8)]
    out = tiny.generate("chorale", seconds=1, count=2, seed=3, primer=primer)
    assert len(out) == 2 and all(n.end <= 1.0 for s in out for n in s.notes)


def test_rbm_samples_rolls_and_continues_a_primer():
    rbm = zoo.create_model("gen-rbm", hidden=8, recurrent=6, gibbs_steps=2)
    a = rbm.generate("renaissance", seconds=1, count=2, seed=5, program=52)
    b = rbm.generate("renaissance", seconds=1, count=2, seed=5, program=52, primer=[ev.Note(60, 0.0, 0.5)])
    b += rbm.generate("renaissance", seconds=1, count=1, seed=5, program=52, primer=[ev.Note(60, 0.0, 0.5)])
    low, high = program_range(52)
    for s in a + b:
        assert all(low <= n.pitch <= high and n.end <= 1.0 for n in s.notes)
    assert [s.notes for s in a] == [s.notes for s in rbm.generate("renaissance", seconds=1, count=2, seed=5,
                                                                   program=52)]
    with pytest.raises(GenerationInputError, match="guidance applies to gen-lstm only"):
        rbm.generate("renaissance", seconds=1, guidance=2.0)
    roll = np.zeros((20, 88), np.float32)
    roll[2:6, 39] = 1
    assert notes_of_roll(roll, 1.0, 0) == [ev.Note(60, 0.1, 0.3)]


@pytest.mark.parametrize("call, message", [
    (lambda m: m.generate("jazz"), "unknown genre 'jazz'; choose one of " + ", ".join(GENRES)),
    (lambda m: m.generate("folk", seconds=0), "seconds must be in (0, 120]"),
    (lambda m: m.generate("folk", temperature=9), "temperature must be in [0.05, 5]"),
])
def test_bad_requests_get_a_sentence(tiny, call, message):
    with pytest.raises(GenerationInputError, match=message.replace("(", r"\(").replace("[", r"\[")):
        call(tiny)
    with pytest.raises(GenerationInputError, match="count"):
        check_settings(10, 1, 0)


def test_weights_round_trip_as_float16(tiny, tmp_path):
    path = tmp_path / "w.npz"
    tiny.save_weights(path)
    other = zoo.create_model("gen-lstm", layers=2, units=16, token_dim=8, genre_dim=4)
    other.load_weights(path)
    for a, b in zip(tiny.keras_model.weights, other.keras_model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-3)
    wrong = zoo.create_model("gen-lstm", layers=3, units=16, token_dim=8, genre_dim=4)
    with pytest.raises(WeightsError, match="does not fit"):
        wrong.load_weights(path)



# ------------------------------------------------------------------------------------------------ the judges
def test_yang_lerch_features_and_set_distance():
    rng = np.random.default_rng(0)
    real = [{"x": rng.normal(0, 1, 3)} for _ in range(60)]
    near = [{"x": rng.normal(0, 1, 3)} for _ in range(60)]
    far = [{"x": rng.normal(4, 1, 3)} for _ in range(60)]
    stack = lambda s: np.stack([f["x"] for f in s])  # noqa: E731
    close, away = judge.set_distance(stack(real), stack(near)), judge.set_distance(stack(real), stack(far))
    assert close["overlap"] > 0.8 > away["overlap"] and close["kl"] < away["kl"]
    feats = judge.clip_features([ev.Note(60, 0.0, 0.5), ev.Note(67, 0.5, 1.0), ev.Note(72, 0.5, 2.0)], 10.0)
    assert feats["pitch_range"][0] == 12 and feats["note_density"][0] == pytest.approx(0.3)
    assert feats["pitch_class_histogram"].sum() == pytest.approx(1.0) and feats["pitch_class_histogram"][0] == 2 / 3
    assert feats["inter_onset_interval"][0] == pytest.approx(0.5)


def test_frechet_distance_and_log_spectral_distance():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (500, 4)), rng.normal(0, 1, (500, 4))
    assert judge.frechet_distance(a, b) < 0.2 < judge.frechet_distance(a, b + 1.0)
    mel = rng.normal(0, 1, (50, 8))
    assert judge.log_spectral_distance(mel, mel) == 0
    assert judge.log_spectral_distance(mel, mel + np.log(10.0)) == pytest.approx(10.0)


def test_longest_match_against_training_notes():
    train = [[(60, 10), (62, 10), (64, 10), (65, 10), (67, 20)]]
    index = judge.NgramIndex(train, longest=8)
    assert index.longest_match([(50, 5), (62, 10), (64, 10), (65, 10), (70, 10)]) == 3
    assert index.longest_match([(50, 5)]) == 0


def test_samplers_keep_to_the_allowed_ids_and_their_seed():
    import tensorflow as tf

    from zoo.decoding import sampling

    logits = tf.constant([[3.0, 2.0, 1.0, 0.0]] * 4)
    allowed = tf.constant([[True, True, True, True], [False, True, True, True]] * 2)
    assert sampling.GreedySampler()(logits, allowed).numpy().tolist() == [0, 1, 0, 1]
    seed = tf.constant([3, 0], tf.int64)
    draws = np.stack([sampling.TopKSampler(2)(logits, allowed, 5.0, seed + [0, i]).numpy() for i in range(200)])
    assert set(draws[:, 0]) == {0, 1} and set(draws[:, 1]) == {1, 2}
    again = sampling.RandomSampler()(logits, allowed, 1.0, seed).numpy()
    assert again.tolist() == sampling.RandomSampler()(logits, allowed, 1.0, seed).numpy().tolist()
    with pytest.raises(ValueError, match="unknown sampler 'nucleus'"):
        sampling.get("nucleus")
