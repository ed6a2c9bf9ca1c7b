"""Preview PNGs of built datasets: staves with their tokens, pairs with onsets, genre spectrograms."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from zoo.datasets import build, tfrecords  # noqa: E402


def _gray(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"))


def _wrap(tokens: list[str], width: int = 150) -> str:
    lines, line = [], ""
    for t in tokens:
        if len(line) + len(t) + 1 > width:
            lines.append(line)
            line = ""
        line += t + " "
    return "\n".join([*lines, line])


def show(dataset: str, data_dir: Path, split: str, count: int, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    {"staff": show_staff, "pairs": show_pairs, "genre": show_genre}[dataset](Path(data_dir), split, count, out)
    return out


def show_staff(data_dir: Path, split: str, count: int, out: Path) -> None:
    """A column of staves, each with its PrIMuS semantic tokens underneath."""
    pool = [ex for _, ex in zip(range(50 * count), tfrecords.iter_examples(data_dir, split, "staff"))]
    rows = pool[:: max(1, len(pool) // count)][:count]  # spread over pieces, not the first piece's parts
    if not rows:
        raise ValueError(f"no staff samples in split {split!r} of {data_dir}")
    fig, axes = plt.subplots(len(rows), 1, figsize=(14, 2.1 * len(rows)), squeeze=False)
    for ax, ex in zip(axes[:, 0], rows):
        ax.imshow(_gray(ex["image"]), cmap="gray", vmin=0, vmax=255)
        ax.set_axis_off()
        tokens = [t.decode() for t in ex["tokens"]]
        ax.set_title(f"{ex['sample_id'].decode()}  [{ex['font'].decode()}]", fontsize=8, loc="left")
        ax.text(0, -0.08, _wrap(tokens), transform=ax.transAxes, fontsize=6.5, va="top", family="monospace")
    fig.tight_layout(h_pad=3)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def show_pairs(data_dir: Path, split: str, count: int, out: Path) -> None:
    """Per segment: the engraved staff with every kept onset's notehead marked, its log-mel with the
    same onsets marked, and two of its (snippet, excerpt) pairs: markers that line up prove the alignment."""
    from zoo.preprocessing import audio

    records = [r for res in build.load_results(data_dir) for r in res.records if r["split"] == split]
    segments: dict[str, list[dict]] = {}
    for r in records:
        segments.setdefault(r["segment"], []).append(r)
    names = sorted(segments)
    chosen = names[:: max(1, len(names) // count)][:count]  # spread over collections
    if not chosen:
        raise ValueError(f"no pairs in split {split!r} of {data_dir}")
    fig, axes = plt.subplots(len(chosen), 4, figsize=(18, 2.6 * len(chosen)), squeeze=False,
                             gridspec_kw={"width_ratios": [5, 5, 1.3, 1.3]})
    for row, seg in zip(axes, chosen):
        folder = data_dir / "pairs" / seg
        pairs = sorted(segments[seg], key=lambda r: r["onset_seconds"])
        row[0].imshow(_gray((folder / "page.png").read_bytes()), cmap="gray", vmin=0, vmax=255, aspect="auto")
        wav = (folder / "audio.wav").read_bytes()
        mel = audio.audio_bytes_to_log_mel(wav, clip_seconds=None).numpy()
        fps = audio.frames_per_second()
        row[1].imshow(mel.T, origin="lower", aspect="auto", extent=(0, mel.shape[0] / fps, 0, mel.shape[1]))
        for i, r in enumerate(pairs):
            color = plt.cm.tab10(i % 10)
            row[0].axvline(r["x"], color=color, lw=1.2)
            row[1].axvline(r["onset_seconds"], color=color, lw=1.2)
        row[0].set_title(f"{seg} [{pairs[0]['font']}, {pairs[0]['genre']}]", fontsize=8, loc="left")
        row[1].set_title("log-mel of the synthesized staff, onsets marked", fontsize=8, loc="left")
        row[1].set_xlabel("seconds", fontsize=7)
        first = pairs[len(pairs) // 2]
        row[2].imshow(_gray((folder / f"{first['id']}.png").read_bytes()), cmap="gray", vmin=0, vmax=255)
        row[2].axvline(row[2].get_images()[0].get_array().shape[1] / 2, color="red", lw=0.8)
        row[2].set_title("snippet", fontsize=8)
        ex = audio.audio_bytes_to_log_mel((folder / f"{first['id']}.wav").read_bytes(), clip_seconds=None).numpy()
        row[3].imshow(ex.T, origin="lower", aspect="auto")
        row[3].axvline(ex.shape[0] / 2, color="red", lw=0.8)
        row[3].set_title(f"excerpt, pitch {first['pitch']}", fontsize=8)
        for ax in (row[0], row[2], row[3]):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out, dpi=65)
    plt.close(fig)


def show_genre(data_dir: Path, split: str, count: int, out: Path) -> None:
    """The log-mel spectrogram of ``count`` clips per genre (one row per genre)."""
    from zoo.preprocessing import audio

    by_genre: dict[str, list[dict]] = {}
    for ex in tfrecords.iter_examples(data_dir, split, "genre"):
        g = ex["genre"].decode()
        if len(by_genre.setdefault(g, [])) < count:
            by_genre[g].append(ex)
    if not by_genre:
        raise ValueError(f"no genre clips in split {split!r} of {data_dir}")
    per_row = max(map(len, by_genre.values()))
    fig, axes = plt.subplots(len(by_genre), per_row, figsize=(4.2 * per_row, 2.4 * len(by_genre)), squeeze=False)
    for row, (g, clips) in zip(axes, sorted(by_genre.items())):
        for ax in row:
            ax.set_axis_off()
        for ax, ex in zip(row, clips):
            mel = audio.audio_bytes_to_log_mel(ex["audio"]).numpy()
            ax.set_axis_on()
            ax.imshow(mel.T, origin="lower", aspect="auto", extent=(0, mel.shape[0] / audio.frames_per_second(),
                                                                   0, mel.shape[1]))
            ax.set_title(f"{g}: {ex['piece_id'].decode()} @{ex['start_seconds']:.0f}s", fontsize=7, loc="left")
            ax.set_xlabel("seconds", fontsize=7)
            ax.set_ylabel("mel band", fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=60)
    plt.close(fig)

