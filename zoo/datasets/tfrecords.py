"""TFRecord layout of every dataset: one feature spec each, a writer and tf.data readers.

Files live in ``<out>/tfrecords/<split>/<dataset>-NNNNN.tfrecord`` so that TFX
ImportExampleGen can take ``<out>/tfrecords`` as input_base with one pattern per
split (``train/*``, ``validation/*``, ``test/*``), and Transform parses the same
features with the same spec.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

SPLITS = ("train", "validation", "test")
SHARD_SIZE = 2000

# Scalars are FixedLenFeature; token sequences are VarLenFeature (a SparseTensor after parsing).
FEATURE_SPECS: dict[str, dict[str, Any]] = {
    "staff": {
        "image": tf.io.FixedLenFeature([], tf.string),  # grayscale PNG bytes
        "height": tf.io.FixedLenFeature([], tf.int64),
        "width": tf.io.FixedLenFeature([], tf.int64),
        "tokens": tf.io.VarLenFeature(tf.string),  # PrIMuS semantic tokens
        "sample_id": tf.io.FixedLenFeature([], tf.string),
        "piece_id": tf.io.FixedLenFeature([], tf.string),
        "collection": tf.io.FixedLenFeature([], tf.string),
        "font": tf.io.FixedLenFeature([], tf.string),
    },
    "pairs": {
        "snippet": tf.io.FixedLenFeature([], tf.string),  # grayscale PNG, SNIPPET_HEIGHT × SNIPPET_WIDTH
        "audio": tf.io.FixedLenFeature([], tf.string),  # 16-bit PCM WAV, EXCERPT_SECONDS at 22,050 Hz: the part
        "audio_ensemble": tf.io.FixedLenFeature([], tf.string),  # the same instant, every part of the piece
        "onset_seconds": tf.io.FixedLenFeature([], tf.float32),
        "pitch": tf.io.FixedLenFeature([], tf.int64),  # MIDI pitch of the note at the onset
        "sample_id": tf.io.FixedLenFeature([], tf.string),
        "piece_id": tf.io.FixedLenFeature([], tf.string),
        "collection": tf.io.FixedLenFeature([], tf.string),
        "genre": tf.io.FixedLenFeature([], tf.string),
        "segment": tf.io.FixedLenFeature([], tf.string),  # the engraved staff segment the snippet is cut from
        "x": tf.io.FixedLenFeature([], tf.float32),  # the snippet centre's x on the segment's page, pixels
    },
    "genre": {
        "audio": tf.io.FixedLenFeature([], tf.string),  # 16-bit PCM WAV, 10 s at 22,050 Hz
        "genre": tf.io.FixedLenFeature([], tf.string),
        "events": tf.io.VarLenFeature(tf.int64),  # symbolic event sequence (zoo.datasets.events)
        "sample_id": tf.io.FixedLenFeature([], tf.string),
        "piece_id": tf.io.FixedLenFeature([], tf.string),
        "collection": tf.io.FixedLenFeature([], tf.string),
        "programs": tf.io.VarLenFeature(tf.int64),  # General MIDI programs used
        "start_seconds": tf.io.FixedLenFeature([], tf.float32),
    },
}


def _feature(spec: Any, value: Any) -> tf.train.Feature:
    dtype = spec.dtype
    values = value if isinstance(value, (list, tuple)) else [value]
    if dtype == tf.string:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v if isinstance(v, bytes) else str(v).encode()
                                                                      for v in values]))
    if dtype == tf.int64:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def to_example(dataset: str, features: dict[str, Any]) -> tf.train.Example:
    spec = FEATURE_SPECS[dataset]
    missing = set(spec) - set(features)
    if missing:
        raise ValueError(f"{dataset} example lacks features {sorted(missing)}")
    return tf.train.Example(features=tf.train.Features(feature={k: _feature(spec[k], features[k]) for k in spec}))


def _pattern(dataset: str) -> str:
    return f"{dataset}-*.tfrecord"


def write_split(
    out_dir: Path, dataset: str, split: str, rows: Iterable[dict[str, Any]], shard_size: int = SHARD_SIZE
) -> int:
    """Write rows as sharded TFRecords under ``out_dir/tfrecords/<split>/``; returns the count."""
    split_dir = out_dir / "tfrecords" / split
    split_dir.mkdir(parents=True, exist_ok=True)
    for old in split_dir.glob(_pattern(dataset)):
        old.unlink()
    count, writer = 0, None
    for row in rows:
        if count % shard_size == 0:
            if writer:
                writer.close()
            writer = tf.io.TFRecordWriter(str(split_dir / f"{dataset}-{count // shard_size:05d}.tfrecord"))
        writer.write(to_example(dataset, row).SerializeToString())
        count += 1
    if writer:
        writer.close()
    return count


def splits_with_records(data_dir: str | Path, dataset: str) -> list[str]:
    """Names of the splits (written copies such as test_distorted included) that hold records of ``dataset``."""
    return sorted({p.parent.name for p in (Path(data_dir) / "tfrecords").glob(f"*/{_pattern(dataset)}")})


def files(data_dir: str | Path, split: str, dataset: str) -> list[str]:
    found = sorted(str(p) for p in (Path(data_dir) / "tfrecords" / split).glob(_pattern(dataset)))
    if not found:
        raise FileNotFoundError(
            f"No {dataset} TFRecords for split {split!r} under {Path(data_dir) / 'tfrecords' / split}; "
            f"build them with `scorezoo data build {dataset}`"
        )
    return found


def parse_fn(dataset: str) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    """Parse one serialized example; VarLen features come back dense (padded with '' / 0)."""
    spec = FEATURE_SPECS[dataset]

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_single_example(serialized, spec)
        return {k: tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v for k, v in parsed.items()}

    return parse


def make_dataset(data_dir: str | Path, split: str, dataset: str, shuffle: int = 0, seed: int = 0) -> tf.data.Dataset:
    """Parsed examples of one split; map, batch and prefetch are the caller's."""
    ds = tf.data.TFRecordDataset(files(data_dir, split, dataset), num_parallel_reads=tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
    return ds.map(parse_fn(dataset), num_parallel_calls=tf.data.AUTOTUNE)


def fixed_subset(ds: tf.data.Dataset, limit: int, seed: int = 0) -> tf.data.Dataset:
    """``limit`` records drawn at random, the same ones in every process.

    ``Dataset.shuffle(seed=...)`` also depends on the global TF seed, so a training run's own seed used to change
    the staves it was validated on. Files are written in piece order, so a prefix would not do either.
    """
    count = int(ds.reduce(np.int64(0), lambda n, _: n + 1))
    keep = np.zeros(count, bool)
    keep[np.random.default_rng(seed).choice(count, min(limit, count), replace=False)] = True
    keep = tf.constant(keep)
    return ds.enumerate().filter(lambda i, _: keep[i]).map(lambda _, example: example)


def iter_examples(data_dir: str | Path, split: str, dataset: str) -> Iterator[dict[str, Any]]:
    """Examples as numpy/python values, for tests and previews."""
    yield from make_dataset(data_dir, split, dataset).as_numpy_iterator()
