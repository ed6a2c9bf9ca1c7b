"""A searchable index of one modality: FAISS vectors, a metadata row per vector, and the model that made them.

An index folder holds

* ``vectors.faiss`` — exact inner product (``IndexFlatIP``) up to :data:`HNSW_FROM` vectors; past that the build
  rewrites it as an HNSW graph (``IndexHNSWFlat``), whose search cost grows with log N;
* ``items.jsonl`` — one line per vector: the indexed file's name and the window's position (page, system, x,
  seconds; null where not applicable);
* ``index.json`` — the model's name, its files' sha256 (weights, and the bank of a graph model), the modality, the
  vector count and every indexed file with its sha256. It is written last, so it is the commit point: an
  interrupted build leaves the index as it was at the last commit, and a re-run adds only files not yet in it.

Searching (:func:`search`) embeds a query of the other modality window by window, takes each window's nearest
indexed windows, and scores each indexed file by the similarity summed over the query's windows (each window counts
its best match in that file), divided by the number of windows. Its position is the best single match's.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from zoo._version import __version__
from zoo.models.retrieval import MODALITIES, RetrievalModel
from zoo.preprocessing import pages as staff_finding
from zoo.pretrained import sha256_file
from zoo.search import sources, windows

FORMAT = 1
HNSW_FROM = 1_000_000  # vectors; below this an exact search is fast enough (1 M × 128 floats = 512 MB)
HNSW_LINKS = 32
NEIGHBOURS_PER_WINDOW = 100  # indexed windows looked at per query window
COMMIT_SECONDS = 30.0  # an index being built is committed at least this often
INDEX_FILE, VECTORS_FILE, ITEMS_FILE = "index.json", "vectors.faiss", "items.jsonl"


class SearchIndexError(ValueError):
    """An index that cannot be used as asked; the message says why and what to do."""


def model_identity(model: RetrievalModel) -> dict[str, Any]:
    """What makes two models' vectors comparable: the name and the sha256 of every file the weights came from."""
    files = model.manifest.files() if model.manifest is not None else {}
    return {"name": model.name, "files": {role: e["sha256"] for role, e in files.items()}}


@dataclass
class Index:
    """An index in memory (see the module docstring for the folder)."""

    directory: Path
    modality: str
    model: dict[str, Any]
    vectors: Any  # a faiss index
    items: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def create(cls, directory: Path, modality: str, model: RetrievalModel) -> Index:
        return cls(directory, modality, model_identity(model),
                   faiss.IndexFlatIP(int(model.config["embed_dim"])))

    @classmethod
    def open(cls, directory: Path) -> Index:
        meta_path = directory / INDEX_FILE
        if not meta_path.is_file():
            raise SearchIndexError(f"{directory} is not a scorezoo index (no {INDEX_FILE}); build one with "
                              "`scorezoo index build`")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            vectors = faiss.read_index(str(directory / VECTORS_FILE))
            lines = (directory / ITEMS_FILE).read_text(encoding="utf-8").splitlines()
        except (OSError, ValueError, RuntimeError) as exc:
            raise SearchIndexError(f"{directory}: the index is damaged ({exc}); build it again") from None
        if meta.get("format") != FORMAT:
            raise SearchIndexError(f"{directory}: index format {meta.get('format')}, this scorezoo reads {FORMAT}; "
                              "build it again")
        count = int(meta["count"])
        if vectors.ntotal < count or len(lines) < count:
            raise SearchIndexError(f"{directory}: the index holds fewer vectors than it records; build it again")
        if vectors.ntotal > count:  # written after the last commit: an interrupted build
            vectors.remove_ids(np.arange(count, vectors.ntotal, dtype=np.int64))
        items = [json.loads(line) for line in lines[:count]]
        return cls(directory, meta["modality"], meta["model"], vectors, items, meta["files"])

    def __len__(self) -> int:
        return len(self.items)

    def check_model(self, model: RetrievalModel) -> None:
        """Refuse a model whose vectors would not be comparable with the index's."""
        mine = model_identity(model)
        if mine != self.model:
            raise SearchIndexError(f"{self.directory} was built with {_describe(self.model)}; the model given is "
                              f"{_describe(mine)}. Query it with the model that built it, or rebuild the index")

    def add(self, name: str, sha256: str, vectors: np.ndarray, positions: list[dict[str, Any]]) -> None:
        self.vectors.add(np.ascontiguousarray(vectors, np.float32))
        self.items += [{"item": name, **p} for p in positions]
        self.files[name] = {"sha256": sha256, "vectors": len(positions)}

    def commit(self) -> None:
        """Write the index atomically: vectors and items first, ``index.json`` (the commit point) last."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.vectors.ntotal >= HNSW_FROM and isinstance(self.vectors, faiss.IndexFlat):
            self.vectors = _as_hnsw(self.vectors)
        _write_atomic(self.directory / VECTORS_FILE, lambda p: faiss.write_index(self.vectors, str(p)))
        _write_atomic(self.directory / ITEMS_FILE, lambda p: p.write_text(
            "".join(json.dumps(i, separators=(",", ":")) + "\n" for i in self.items), encoding="utf-8"))
        meta = {"format": FORMAT, "scorezoo": __version__, "modality": self.modality, "model": self.model,
                "dim": self.vectors.d, "count": len(self.items),
                "kind": "hnsw" if isinstance(self.vectors, faiss.IndexHNSW) else "flat", "files": self.files}
        _write_atomic(self.directory / INDEX_FILE,
                      lambda p: p.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8"))


def _describe(identity: dict[str, Any]) -> str:
    weights = identity.get("files", {}).get("weights")
    return f"{identity['name']} (weights {weights[:12]}…)" if weights else f"{identity['name']} (unshipped weights)"


def _as_hnsw(flat: Any) -> Any:
    hnsw = faiss.IndexHNSWFlat(flat.d, HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(flat.reconstruct_n(0, flat.ntotal))
    return hnsw


def _write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    write(partial)
    with open(partial, "rb") as fh:
        os.fsync(fh.fileno())
    partial.replace(path)


# ------------------------------------------------------------------------------------------------------ windows


def file_windows(path: Path, modality: str) -> windows.Windows:
    """A file's windows as network inputs with their positions, or a SourceError naming the problem."""
    if modality == "sheet":
        found = [windows.page_windows(page, k) for k, page in enumerate(sources.pages(path), start=1)]
        found = [w for w in found if len(w)]
        if not found:
            raise sources.SourceError(f"{path.name}: no staff found on any page")
        return windows.Windows(np.concatenate([w.inputs for w in found]), [p for w in found for p in w.positions])
    return windows.recording_windows(*sources.recording(path))


def build(inputs: Iterable[Path], directory: Path, model: RetrievalModel,
          progress: Callable[[Iterable[Path]], Iterable[Path]] = lambda x: x) -> dict[str, Any]:
    """Index ``inputs`` (files; folders are expanded by the caller) into ``directory``, adding to what is there.

    Returns ``{"added": [...], "skipped": {file: reason}, "already": [...], "vectors": N}``. A file of the other
    modality than the index's, an unreadable one, or a second file of an indexed name is skipped with its reason.
    """
    inputs = list(inputs)
    index = Index.open(directory) if (directory / INDEX_FILE).is_file() else None
    if index is not None:
        index.check_model(model)
    added, already, skipped = [], [], {}
    last_commit = time.monotonic()
    for path in progress(inputs):
        try:
            modality = sources.modality_of(path)
            if index is None:
                index = Index.create(directory, modality, model)
            if modality != index.modality:
                raise sources.SourceError(f"{path.name} is {modality}; this index holds {index.modality}")
            digest = sha256_file(path)
            if path.name in index.files:
                if index.files[path.name]["sha256"] == digest:
                    already.append(path.name)
                    continue
                raise sources.SourceError(f"another file named {path.name} is already indexed; rename one")
            found = file_windows(path, modality)
            index.add(path.name, digest, model.embed_array(modality, found.inputs), found.positions)
            added.append(path.name)
        except (sources.InputError, OSError) as exc:
            skipped[str(path)] = str(exc)
        if index is not None and added and time.monotonic() - last_commit > COMMIT_SECONDS:
            index.commit()
            last_commit = time.monotonic()
    if index is not None and (added or not (directory / INDEX_FILE).is_file()):
        index.commit()
    return {"added": added, "already": already, "skipped": skipped, "vectors": len(index) if index else 0,
            "modality": index.modality if index else None}


# ------------------------------------------------------------------------------------------------------- search


def search(index: Index, model: RetrievalModel, query: Path | bytes, top: int = 10,
           query_modality: str | None = None) -> list[dict[str, Any]]:
    """The ``top`` indexed files that best match a query of the other modality, best first (see the module
    docstring); ``page``/``system``/``x`` are sheet positions and ``seconds`` a recording time, whichever side
    they come from."""
    if len(index) == 0:
        raise SearchIndexError(f"{index.directory} is empty: index some files first")
    if isinstance(query, Path):
        query_modality = sources.modality_of(query)
    other = [m for m in MODALITIES if m != index.modality][0]
    if query_modality != other:
        raise sources.SourceError(f"the query is {query_modality}, like the index; query a {index.modality} index "
                                  f"with {other}")
    found = file_windows(query, other) if isinstance(query, Path) else _bytes_windows(query, other)
    if not len(found):
        raise sources.SourceError("the query has no window to embed")
    vectors = model.embed_array(other, found.inputs)
    return rank_items(index, vectors, found.positions, top)


def _bytes_windows(data: bytes, modality: str) -> windows.Windows:
    if modality == "audio":
        return windows.recording_windows(*sources.recording(data))
    return windows.page_windows(staff_finding.gray_image(data))


def rank_items(index: Index, vectors: np.ndarray, positions: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """Per-file scores of query window vectors against the index (the aggregation of :func:`search`)."""
    k = min(NEIGHBOURS_PER_WINDOW, len(index))
    sims, rows = index.vectors.search(np.ascontiguousarray(vectors, np.float32), k)
    totals: dict[str, float] = {}
    best: dict[str, tuple[float, int, int]] = {}
    for w in range(len(vectors)):
        seen: dict[str, float] = {}
        for sim, row in zip(sims[w], rows[w]):
            if row < 0:
                continue
            name = index.items[row]["item"]
            if name not in seen:  # results come best first: the first hit of a file is its best for this window
                seen[name] = float(sim)
                if name not in best or sim > best[name][0]:
                    best[name] = (float(sim), w, int(row))
        for name, sim in seen.items():
            totals[name] = totals.get(name, 0.0) + sim
    ranked = sorted(totals, key=lambda n: -totals[n])[:top]
    out = []
    for name in ranked:
        _, w, row = best[name]
        hit, mine = index.items[row], positions[w]
        sheet, timed = (hit, mine) if index.modality == "sheet" else (mine, hit)
        out.append({"item": name, "score": round(totals[name] / len(vectors), 4), "page": sheet.get("page"),
                    "system": sheet.get("system"), "x": sheet.get("x"), "seconds": timed.get("seconds")})
    return out
