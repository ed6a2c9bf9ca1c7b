"""How close generated music is to real music, and how original.

* **Yang & Lerch (2018)** statistics per clip — pitch-class histogram, pitch range, mean pitch interval, mean
  inter-onset interval, note-length histogram, note density — compared set to set as their paper does: the
  distances between clips *within* the real set and *across* real and generated sets are smoothed by a Gaussian
  KDE, and the two densities are compared by their **overlapped area** (1 = the generated clips sit among the real
  ones as the real ones sit among themselves) and **KL divergence** (real-intra ‖ inter, 0 is best). muspy has
  per-piece descriptors but not this set-to-set protocol, and it is not in the verified package set, so the
  protocol is written here with numpy and scipy.
* **Fréchet distance** between two sets of embeddings (Gaussian fits), on genre-cnn's penultimate layer.
* **Originality**: the longest run of consecutive notes (pitch and duration) a generated clip shares with any
  training clip.
* **Log-spectral distance** between two renderings' log-mel spectrograms, in dB.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import linalg, stats

from zoo.datasets import events as ev

FEATURES = ("pitch_class_histogram", "pitch_range", "pitch_interval", "inter_onset_interval",
            "note_length_histogram", "note_density")
LENGTH_BINS = np.geomspace(0.05, 4.0, 9)  # note lengths 50 ms - 4 s in 8 log-spaced classes
DURATION_QUANTUM = 0.05  # seconds: durations are compared on this grid for originality


def clip_features(notes: Sequence[ev.Note], seconds: float) -> dict[str, np.ndarray]:
    """The Yang & Lerch features of one clip (an empty clip gets zeros)."""
    pitches = np.array([n.pitch for n in notes], float)
    onsets = np.unique(np.round([n.start for n in notes], 3))
    lengths = np.array([n.end - n.start for n in notes], float)
    pch = np.bincount(pitches.astype(int) % 12, minlength=12).astype(float) if len(notes) else np.zeros(12)
    nlh = np.histogram(np.clip(lengths, LENGTH_BINS[0], LENGTH_BINS[-1]), LENGTH_BINS)[0].astype(float)
    return {
        "pitch_class_histogram": pch / max(1.0, pch.sum()),
        "pitch_range": np.array([np.ptp(pitches) if len(notes) else 0.0]),
        "pitch_interval": np.array([np.abs(np.diff(pitches)).mean() if len(notes) > 1 else 0.0]),
        "inter_onset_interval": np.array([np.diff(onsets).mean() if len(onsets) > 1 else seconds]),
        "note_length_histogram": nlh / max(1.0, nlh.sum()),
        "note_density": np.array([len(notes) / seconds]),
    }


def _pairwise(a: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if b is None:
        d = np.linalg.norm(a[:, None] - a[None], axis=-1)
        return d[np.triu_indices(len(a), 1)]
    return np.linalg.norm(a[:, None] - b[None], axis=-1).ravel()


def _density(sample: np.ndarray, grid: np.ndarray) -> np.ndarray:
    if np.ptp(sample) < 1e-9:  # a constant set of distances: a narrow bump where they are
        sample = sample + np.random.default_rng(0).normal(0, 1e-3, len(sample))
    p = stats.gaussian_kde(sample)(grid)
    return p / max(1e-12, np.trapz(p, grid))


def set_distance(real: np.ndarray, generated: np.ndarray) -> dict[str, float]:
    """Overlapped area and KL(real-intra ‖ inter) of one feature ([N, d] per set)."""
    intra = _pairwise(real, None)
    inter = _pairwise(real, generated)
    grid = np.linspace(0, max(intra.max(), inter.max()) * 1.1 + 1e-6, 512)
    p, q = _density(intra, grid), _density(inter, grid)
    overlap = float(np.trapz(np.minimum(p, q), grid))
    kl = float(np.trapz(p * np.log((p + 1e-10) / (q + 1e-10)), grid))
    return {"overlap": round(overlap, 4), "kl": round(max(0.0, kl), 4)}


def compare_sets(real: list[dict[str, np.ndarray]], generated: list[dict[str, np.ndarray]]
                 ) -> dict[str, dict[str, float]]:
    """Per feature: overlapped area and KL of generated clips' features against real clips'."""
    out = {}
    for name in FEATURES:
        out[name] = set_distance(np.stack([f[name] for f in real]), np.stack([f[name] for f in generated]))
    return out


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to embeddings a [N, D] and b [M, D]."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    root = root.real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def note_tokens(notes: Sequence[ev.Note]) -> list[tuple[int, int]]:
    """(pitch, duration in DURATION_QUANTUM steps) in playing order (onset, then pitch)."""
    return [(n.pitch, int(round((n.end - n.start) / DURATION_QUANTUM)))
            for n in sorted(notes, key=lambda n: (n.start, n.pitch))]


class NgramIndex:
    """Every run of up to ``longest`` consecutive note tokens of the training clips, for the longest-match test."""

    def __init__(self, sequences: Sequence[Sequence[tuple[int, int]]], longest: int = 32) -> None:
        self.longest = longest
        self.grams: list[set[int]] = [set() for _ in range(longest + 1)]
        for seq in sequences:
            for n in range(1, longest + 1):
                for i in range(len(seq) - n + 1):
                    self.grams[n].add(hash(tuple(seq[i:i + n])))

    def longest_match(self, seq: Sequence[tuple[int, int]]) -> int:
        """The longest run of ``seq`` found in the training clips (capped at ``longest``)."""
        best = 0
        for n in range(1, self.longest + 1):
            if not any(hash(tuple(seq[i:i + n])) in self.grams[n] for i in range(len(seq) - n + 1)):
                break
            best = n
        return best


def log_spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over frames of the RMS difference in dB between two natural-log mel spectrograms [frames, bands]."""
    frames = min(len(a), len(b))
    db = (10.0 / np.log(10.0)) * (a[:frames] - b[:frames])
    return float(np.sqrt((db**2).mean(1)).mean())
