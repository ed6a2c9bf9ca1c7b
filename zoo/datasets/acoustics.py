"""What a room, a microphone and a recording chain do to a synthesizer's dry output, for genre training audio.

Real recordings are not FluidSynth's dry output: they carry a room's reverberation, a microphone's and a mixing
desk's colour, a level anywhere from quiet to full scale, and some noise. :func:`record` applies each of these at
random, at the rates a recipe gives (``audio_effects``), so a genre classifier learns the music and not one
synthesizer's sound:

* **reverberation**: a synthetic room response (exponentially decaying noise with an RT60 drawn from
  ``rt60_seconds``, a few early reflections) mixed in with a wet share from ``wet``;
* **equalization**: a low and a high shelf (first-order, scipy.signal), each up to ``eq_db`` of boost or cut;
* **level**: a gain in ``gain_db`` relative to the build's peak normalization;
* **noise**: white noise at a signal-to-noise ratio in ``snr_db``.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import signal

from zoo.datasets import recipes


@dataclass(frozen=True)
class RecordingChain:
    """Each effect's probability and range (see the module docstring)."""
    reverb_probability: float = 0.6
    rt60_seconds: tuple[float, float] = (0.2, 1.6)
    wet: tuple[float, float] = (0.1, 0.5)
    eq_probability: float = 0.6
    eq_db: float = 6.0
    level_probability: float = 0.6
    gain_db: tuple[float, float] = (-12.0, 0.0)
    noise_probability: float = 0.5
    snr_db: tuple[float, float] = (25.0, 55.0)

    @classmethod
    def from_recipe(cls, value: dict[str, Any] | None) -> RecordingChain | None:
        chain = recipes.section(cls, value, "audio_effects")
        if chain is None:
            return None
        for f in fields(cls):
            v = getattr(chain, f.name)
            if f.name.endswith("probability") and not 0 <= v <= 1:
                raise ValueError(f"recipe audio_effects {f.name} must be in [0, 1], got {v}")
            if isinstance(v, tuple) and not (len(v) == 2 and v[0] <= v[1]):
                raise ValueError(f"recipe audio_effects {f.name} must be [low, high], got {list(v)}")
        return chain


def record(samples: np.ndarray, rate: int, rng: random.Random, chain: RecordingChain) -> tuple[np.ndarray, list[str]]:
    """``samples`` (mono float, peak about 0.9) as if recorded: the effects drawn, in the order a recording
    applies them (room, microphone and desk, level, noise), and their names for the build report."""
    out = samples.astype(np.float32)
    applied = []
    if rng.random() < chain.reverb_probability:
        out = _reverb(out, rate, rng.uniform(*chain.rt60_seconds), rng.uniform(*chain.wet), rng)
        applied.append("reverb")
    if rng.random() < chain.eq_probability:
        out = _shelves(out, rate, rng.uniform(-chain.eq_db, chain.eq_db), rng.uniform(-chain.eq_db, chain.eq_db))
        applied.append("eq")
    peak = float(np.abs(out).max()) or 1.0
    out = 0.9 * out / peak  # effects change the peak; the level is set from full scale again
    if rng.random() < chain.level_probability:
        out = out * 10 ** (rng.uniform(*chain.gain_db) / 20)
        applied.append("level")
    if rng.random() < chain.noise_probability:
        power = float(np.mean(out**2)) or 1e-8
        std = math.sqrt(power / 10 ** (rng.uniform(*chain.snr_db) / 10))
        noise = np.random.default_rng(rng.getrandbits(32)).normal(0.0, std, out.shape)
        out = out + noise.astype(np.float32)
        applied.append("noise")
    return np.clip(out, -1.0, 1.0).astype(np.float32), applied


def _reverb(x: np.ndarray, rate: int, rt60: float, wet: float, rng: random.Random) -> np.ndarray:
    """A room: exponentially decaying noise (-60 dB after ``rt60``) with a few early reflections, convolved in."""
    n = max(1, int(rt60 * rate))
    t = np.arange(n) / rate
    noise = np.random.default_rng(rng.getrandbits(32)).standard_normal(n)
    response = noise * np.exp(-6.9078 * t / rt60)  # ln(1000): 60 dB of decay at rt60
    for _ in range(4):  # early reflections within the first 50 ms
        response[int(rng.uniform(0.005, 0.05) * rate) % n] += rng.uniform(0.3, 0.8)
    response /= np.sqrt(np.sum(response**2))
    tail = signal.fftconvolve(x, response)[: len(x)]
    scale = (np.sqrt(np.mean(x**2)) or 1.0) / (np.sqrt(np.mean(tail**2)) or 1.0)
    return ((1 - wet) * x + wet * scale * tail).astype(np.float32)


def _shelves(x: np.ndarray, rate: int, low_db: float, high_db: float) -> np.ndarray:
    """A low shelf below 250 Hz and a high shelf above 4 kHz, ``low_db`` and ``high_db`` of gain (first order:
    the band is split by a Butterworth pair and each side scaled)."""
    out = x.astype(np.float64)
    for cutoff, db, kind in ((250.0, low_db, "lowpass"), (min(4000.0, 0.45 * rate), high_db, "highpass")):
        sos = signal.butter(1, cutoff, btype=kind, fs=rate, output="sos")
        band = signal.sosfilt(sos, out)
        out = out + (10 ** (db / 20) - 1) * band
    return out.astype(np.float32)
