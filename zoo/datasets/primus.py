"""Reader for the PrIMuS / Camera-PrIMuS package layout (and our staff samples, which share it).

PrIMuS ships one folder per incipit: ``ID/ID.png``, ``ID.semantic``, ``ID.agnostic``,
``ID.mei`` (Camera-PrIMuS adds ``ID_distorted.jpg``). Users who have the package can
turn it into the staff TFRecords with :func:`write_tfrecords` and train on it.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from zoo.datasets import corpus, tfrecords
from zoo.notation.readers import read_semantic


@dataclass(frozen=True)
class PrimusSample:
    sample_id: str
    image_path: Path
    tokens: list[str]
    agnostic: list[str] | None

    def png_bytes(self) -> bytes:
        """The image as grayscale PNG (Camera-PrIMuS' JPEGs are converted)."""
        if self.image_path.suffix.lower() == ".png":
            return self.image_path.read_bytes()
        buf = io.BytesIO()
        Image.open(self.image_path).convert("L").save(buf, format="PNG")
        return buf.getvalue()


def iter_samples(root: str | Path, distorted: bool = False) -> Iterator[PrimusSample]:
    """Every sample under ``root`` that has a ``.semantic`` label and an image, sorted by id."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"PrIMuS folder not found: {root}")
    for label in sorted(root.rglob("*.semantic")):
        stem = str(label)[: -len(".semantic")]  # ids may contain dots: no with_suffix here
        image = Path(f"{stem}_distorted.jpg" if distorted else f"{stem}.png")
        if not image.is_file():
            continue
        agnostic = Path(f"{stem}.agnostic")
        yield PrimusSample(
            sample_id=label.name[: -len(".semantic")],
            image_path=image,
            tokens=read_semantic(label),
            agnostic=agnostic.read_text(encoding="utf-8").split() if agnostic.is_file() else None,
        )


def write_tfrecords(root: str | Path, out_dir: str | Path, distorted: bool = False) -> dict[str, int]:
    """PrIMuS → staff TFRecords, split by the same sha1 rule as corpus pieces (on the sample id)."""
    out_dir = Path(out_dir)
    samples = list(iter_samples(root, distorted))
    if not samples:
        raise FileNotFoundError(f"no PrIMuS samples (ID.semantic + image) under {root}")
    counts = {}
    for split in tfrecords.SPLITS:
        counts[split] = tfrecords.write_split(out_dir, "staff", split, (_row(s) for s in samples
                                                                       if corpus.split_of(s.sample_id) == split))
    return counts


def _row(sample: PrimusSample) -> dict:
    png = sample.png_bytes()
    width, height = Image.open(io.BytesIO(png)).size
    return {"image": png, "height": height, "width": width, "tokens": sample.tokens, "sample_id": sample.sample_id,
            "piece_id": sample.sample_id, "collection": "primus", "font": "primus"}
