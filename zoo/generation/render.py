"""Generated notes → ``NAME.mid``, ``NAME.wav`` (FluidSynth) and ``NAME.png`` (piano roll over log-mel)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.datasets import events as ev
from zoo.datasets import synth
from zoo.preprocessing import audio

PEAK = 0.9  # the genre build normalises every clip to this peak; generated clips are treated alike


def render(notes: Sequence[ev.Note], program: int, seconds: float, soundfont: str | None = None) -> np.ndarray:
    """Mono audio at the front end's rate, exactly ``seconds`` long, peak-normalised (silence stays silence)."""
    length = int(round(seconds * audio.SAMPLE_RATE))
    if not notes:
        return np.zeros(length, np.float32)
    samples = synth.render_midi(ev.notes_to_midi(notes, program), audio.SAMPLE_RATE, soundfont)
    samples = np.pad(samples, (0, max(0, length - len(samples))))[:length]
    peak = float(np.abs(samples).max())
    return (PEAK * samples / peak).astype(np.float32) if peak > 0 else samples


def log_mel(samples: np.ndarray) -> np.ndarray:
    """The shared front end's log-mel [frames, 128] of rendered audio."""
    return audio.log_mel(samples).numpy()


def draw_log_mel(ax: Any, samples: np.ndarray) -> None:
    """The shared front end's log-mel of ``samples`` (at its rate) on a matplotlib axis, over seconds."""
    seconds = len(samples) / audio.SAMPLE_RATE
    ax.imshow(log_mel(samples).T, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, audio.N_MELS))
    ax.set_ylabel("mel band")
    ax.set_xlabel("seconds")


def plot(notes: Sequence[ev.Note], samples: np.ndarray, out: Path, title: str) -> Path:
    """A piano roll (top) over the log-mel spectrogram (bottom) on one time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = len(samples) / audio.SAMPLE_RATE
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=[1, 1.2])
    for n in notes:
        top.add_patch(plt.Rectangle((n.start, n.pitch - 0.4), n.end - n.start, 0.8, color="tab:blue"))
    pitches = [n.pitch for n in notes] or [60]
    top.set_ylim(min(pitches) - 2, max(pitches) + 2)
    top.set_ylabel("MIDI pitch")
    top.set_title(title)
    draw_log_mel(bottom, samples)
    top.set_xlim(0, seconds)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def write_sample(out_dir: Path, name: str, notes: Sequence[ev.Note], program: int, seconds: float,
                 title: str, soundfont: str | None = None) -> dict[str, Path]:
    """Write the three files of one sample; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"mid": out_dir / f"{name}.mid", "wav": out_dir / f"{name}.wav", "png": out_dir / f"{name}.png"}
    paths["mid"].write_bytes(ev.notes_to_midi(notes, program))
    samples = render(notes, program, seconds, soundfont)
    paths["wav"].write_bytes(audio.wav_bytes(samples, audio.SAMPLE_RATE))
    plot(notes, samples, paths["png"], title)
    return paths
