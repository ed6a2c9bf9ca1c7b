"""PNG plots people would rather look at than logs: training curves, confusion matrices, bar charts."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def training_curves(history: dict[str, list[float]], out: Path, title: str) -> Path:
    """One panel per metric (loss, accuracy, …), train and validation together."""
    metrics = sorted({k.removeprefix("val_") for k in history if k != "lr"})
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for key, style in ((m, "-"), (f"val_{m}", "--")):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(m)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def confusion_matrix(matrix: np.ndarray, labels: Sequence[str], out: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def bar_chart(values: dict[str, dict[str, float]], out: Path, title: str, ylabel: str) -> Path:
    """Grouped bars: ``values[group][series]``."""
    groups = list(values)
    series = sorted({s for v in values.values() for s in v})
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(1.6 * len(groups) + 3, 4))
    for k, s in enumerate(series):
        heights = [values[g].get(s, 0.0) for g in groups]
        bars = ax.bar(np.arange(len(groups)) + k * width, heights, width, label=s)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(np.arange(len(groups)) + width * (len(series) - 1) / 2, groups, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
