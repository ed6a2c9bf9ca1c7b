"""The recording chain that makes genre training audio sound recorded: room, equalizer, level, noise."""
import random

import numpy as np
import pytest

from zoo.datasets import acoustics

RATE = 22050
ALWAYS = acoustics.RecordingChain(reverb_probability=1, eq_probability=1, level_probability=1, noise_probability=1)
NEVER = acoustics.RecordingChain(reverb_probability=0, eq_probability=0, level_probability=0, noise_probability=0)


def _tone_then_silence() -> np.ndarray:
    t = np.arange(RATE) / RATE
    x = np.zeros(2 * RATE, np.float32)
    x[:RATE] = 0.9 * np.sin(2 * np.pi * 440 * t)
    return x


def test_the_same_seed_records_the_same_and_every_effect_is_named():
    x = _tone_then_silence()
    a, applied = acoustics.record(x, RATE, random.Random(3), ALWAYS)
    b, _ = acoustics.record(x, RATE, random.Random(3), ALWAYS)
    np.testing.assert_array_equal(a, b)
    assert applied == ["reverb", "eq", "level", "noise"] and a.dtype == np.float32 and np.abs(a).max() <= 1.0


def test_a_room_rings_on_after_the_note_and_noise_fills_the_silence():
    x = _tone_then_silence()
    dry, _ = acoustics.record(x, RATE, random.Random(0), NEVER)
    np.testing.assert_allclose(dry, x, atol=1e-6)
    room = acoustics.RecordingChain(reverb_probability=1, eq_probability=0, level_probability=0, noise_probability=0,
                                    rt60_seconds=(1.0, 1.0), wet=(0.5, 0.5))
    wet, _ = acoustics.record(x, RATE, random.Random(0), room)
    after = slice(RATE + RATE // 20, RATE + RATE // 4)  # 50-250 ms after the note ends
    assert np.sqrt(np.mean(wet[after] ** 2)) > 0.01 > np.sqrt(np.mean(x[after] ** 2))
    hiss = acoustics.RecordingChain(reverb_probability=0, eq_probability=0, level_probability=0, noise_probability=1,
                                    snr_db=(30.0, 30.0))
    noisy, _ = acoustics.record(x, RATE, random.Random(0), hiss)
    floor = np.sqrt(np.mean(noisy[RATE:] ** 2))
    assert 0.005 < floor < 0.05  # 30 dB under a 0.64-rms tone


def test_level_and_equalizer_change_what_they_should():
    x = _tone_then_silence()
    quiet = acoustics.RecordingChain(reverb_probability=0, eq_probability=0, level_probability=1,
                                     noise_probability=0, gain_db=(-12.0, -12.0))
    out, _ = acoustics.record(x, RATE, random.Random(0), quiet)
    assert np.abs(out).max() == pytest.approx(0.9 * 10 ** (-12 / 20), rel=1e-3)
    bright = acoustics._shelves(np.random.default_rng(0).standard_normal(RATE).astype(np.float32), RATE, -6.0, 6.0)
    spectrum = np.abs(np.fft.rfft(bright))
    freqs = np.fft.rfftfreq(RATE, 1 / RATE)
    assert spectrum[freqs > 6000].mean() > 1.5 * spectrum[freqs < 150].mean()


def test_recipe_sections_are_checked():
    assert acoustics.RecordingChain.from_recipe(None) is None
    assert acoustics.RecordingChain.from_recipe({"wet": [0.2, 0.3]}).wet == (0.2, 0.3)
    with pytest.raises(ValueError, match="unknown keys \\['reverb'\\]"):
        acoustics.RecordingChain.from_recipe({"reverb": 1})
    with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
        acoustics.RecordingChain.from_recipe({"noise_probability": 2})
    with pytest.raises(ValueError, match="low, high"):
        acoustics.RecordingChain.from_recipe({"snr_db": [50, 20]})
