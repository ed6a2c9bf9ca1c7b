"""Export a zoo model as a TF Serving SavedModel: ``<out_dir>/<name>/<version>/`` (the layout Pusher writes).

The version folder appears atomically and only when complete: the SavedModel is written to a hidden temporary
folder beside it and renamed into place under a lock on the model folder, so a server polling ``<out_dir>/<name>``
never sees a half-written or empty version, and an existing version is never overwritten. A temporary folder
left by an export that was killed is removed by the next export (its name carries the exporter's process id).
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import tensorflow as tf

import zoo

TEMP_PREFIX = ".export-"
_TEMP = re.compile(rf"^{re.escape(TEMP_PREFIX)}.*-pid(\d+)-")


class ExportError(RuntimeError):
    """The export cannot be done (version exists, bad weights, ...); the message says what to do."""


def existing_versions(model_dir: str | Path) -> list[int]:
    """Numeric version folders under ``model_dir`` (what TF Serving considers), sorted."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def served_signatures(model_dir: str | Path) -> dict | None:
    """What TF Serving would serve from ``model_dir`` (its newest version): ``{version, signatures: {name: {inputs,
    outputs}}}``, each tensor as ``{dtype, shape}`` (-1 = any size), read from ``saved_model.pb`` without loading
    the model; None when no version is exported."""
    from tensorflow.core.protobuf import saved_model_pb2

    versions = existing_versions(model_dir)
    if not versions:
        return None
    proto = saved_model_pb2.SavedModel.FromString((Path(model_dir) / str(versions[-1]) / "saved_model.pb").read_bytes())

    def tensors(infos) -> dict:
        return {key: {"dtype": tf.dtypes.as_dtype(info.dtype).name,
                      "shape": None if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim]}
                for key, info in sorted(infos.items())}

    signatures = {name: {"inputs": tensors(sig.inputs), "outputs": tensors(sig.outputs)}
                  for name, sig in sorted(proto.meta_graphs[0].signature_def.items()) if not name.startswith("__")}
    return {"version": versions[-1], "signatures": signatures}


def next_version(model_dir: str | Path) -> int:
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def load_for_export(name: str, weights: str | Path | None = "pretrained") -> zoo.ZooModel:
    """``weights``: "pretrained" (shipped), a weights file or manifest folder, or None / "none" (untrained)."""
    if isinstance(weights, str) and weights.lower() == "none":
        weights = None
    return zoo.load(name, weights=weights)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(model_dir: Path) -> list[Path]:
    """Remove the temporary folders of exports whose process is gone; returns what was removed."""
    removed = []
    for path in model_dir.glob(f"{TEMP_PREFIX}*"):
        match = _TEMP.match(path.name)
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextmanager
def _locked(model_dir: Path) -> Iterator[None]:
    """An exclusive lock on the model folder itself (released by the kernel if the exporter dies)."""
    fd = os.open(model_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def export(name: str, out_dir: str | Path, version: int | None = None, weights: str | Path | None = "pretrained",
           model: zoo.ZooModel | None = None) -> Path:
    """Write ``out_dir/name/version/`` (a SavedModel with the model's serving signatures) and return its path.

    ``version`` defaults to one more than the largest existing numeric version (1 for the first). ``model`` skips
    loading (it must be the model called ``name``).
    """
    model_dir = Path(out_dir) / name
    if version is not None and (version < 0 or (model_dir / str(version)).exists()):
        raise ExportError(f"Version {version} of {name!r} already exists in {model_dir} (or is negative); "
                          "versions are never overwritten: pick another --version or leave it out.")
    model = model if model is not None else load_for_export(name, weights)
    signatures = model.serving_signatures()
    model_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(model_dir)
    # hidden and non-numeric, so servers skip it
    tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{name}-pid{os.getpid()}-", dir=model_dir))
    try:
        tf.saved_model.save(model.trackable(), str(tmp / "model"), signatures=signatures)
        with _locked(model_dir):  # choosing the number and renaming into place is one step for other exporters
            v = version if version is not None else next_version(model_dir)
            target = model_dir / str(v)
            if target.exists():
                raise ExportError(f"Version {v} of {name!r} already exists in {model_dir}.")
            os.rename(tmp / "model", target)  # atomic: the version appears complete, or not at all
            return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
