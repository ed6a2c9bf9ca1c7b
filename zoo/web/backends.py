"""Where the page's answers come from: the models loaded in this process (:class:`LocalBackend`) or a model server
over gRPC (:class:`ServedBackend`). Both answer with the objects ``scorezoo recognize --json``, ``genre --json``,
``search --json`` and ``generate`` give, so the page does not know which one it talks to."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from zoo.datasets import events as ev


class BackendError(RuntimeError):
    """The backend cannot answer (a server down, no index): a sentence for the page, with an HTTP status."""

    def __init__(self, message: str, status: int = 503):
        super().__init__(message)
        self.status = status


class Backend(Protocol):
    name: str

    def recognize(self, data: bytes) -> list[dict[str, Any]]: ...
    def genre(self, data: bytes) -> dict[str, Any]: ...
    def search(self, data: bytes, top: int) -> list[dict[str, Any]]: ...
    def generate(self, genre: str, seconds: float, temperature: float, seed: int) -> tuple[list[ev.Note], int]: ...


def _index_dir(index_dir: Path | None) -> Path:
    if index_dir is None:
        raise BackendError("no score collection is indexed: start the page with --index DIR "
                           "(built by `scorezoo index build`)", 404)
    return index_dir


class LocalBackend:
    """The zoo's models in this process, each loaded on first use (hash-checked, offline) and kept."""

    name = "in-process models"

    def __init__(self, index_dir: Path | None = None):
        self.index_dir = index_dir
        self._models: dict[str, Any] = {}
        self._index: Any = None  # opened on the first search and kept, like the models
        self._lock = threading.Lock()  # TF models are shared by the server's worker threads; loading is not

    def model(self, name: str) -> Any:
        import zoo

        with self._lock:
            if name not in self._models:
                self._models[name] = zoo.load(name)
            return self._models[name]

    def recognize(self, data: bytes) -> list[dict[str, Any]]:
        return self.model("omr-resnet-bisru").recognize_page(data)

    def genre(self, data: bytes) -> dict[str, Any]:
        return self.model("genre-cnn").predict(data)

    def search(self, data: bytes, top: int) -> list[dict[str, Any]]:
        from zoo.search import index as search_index

        with self._lock:
            if self._index is None:
                try:
                    self._index = search_index.Index.open(_index_dir(self.index_dir))
                except search_index.SearchIndexError as exc:
                    raise BackendError(str(exc), 404) from None
        found = self._index
        model = self.model(found.model["name"])
        try:
            found.check_model(model)
        except search_index.SearchIndexError as exc:
            raise BackendError(str(exc), 409) from None
        return search_index.search(found, model, data, top, query_modality="audio")

    def generate(self, genre: str, seconds: float, temperature: float, seed: int) -> tuple[list[ev.Note], int]:
        from zoo.models.generation import GENRE_PROGRAMS

        model = self.model("gen-lstm")
        piece = model.generate(genre, seconds=seconds, temperature=temperature, seed=seed)[0]
        return piece.notes, GENRE_PROGRAMS.get(genre, 0)


class ServedBackend:
    """A TF Serving (or ``scorezoo serve``) model server over gRPC; a server that is down is a sentence."""

    def __init__(self, server: str, index_dir: Path | None = None, timeout: float = 60.0):
        self.name = f"model server {server}"
        self.server = server
        self.index_dir = index_dir
        self.timeout = timeout

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        from serving.client import ServingClient, ServingError

        try:
            with ServingClient(self.server, timeout=self.timeout) as client:
                return getattr(client, method)(*args, **kwargs)
        except ServingError as exc:
            if exc.code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                raise BackendError(f"the model server at {self.server} does not answer ({exc.code.name}): "
                                   "is it running?") from None
            if exc.code.name == "NOT_FOUND":
                raise BackendError(f"the model server at {self.server}: {exc}", 503) from None
            raise BackendError(str(exc), 400) from None

    def recognize(self, data: bytes) -> list[dict[str, Any]]:
        return self._call("recognize_page", data)

    def genre(self, data: bytes) -> dict[str, Any]:
        return self._call("genre", [data])[0]

    def search(self, data: bytes, top: int) -> list[dict[str, Any]]:
        from zoo.search.index import SearchIndexError

        try:  # the client opens the index and asks the server to embed the query
            return self._call("search", _index_dir(self.index_dir), data, top)
        except SearchIndexError as exc:
            raise BackendError(str(exc), 404) from None

    def generate(self, genre: str, seconds: float, temperature: float, seed: int) -> tuple[list[ev.Note], int]:
        from zoo.models.generation import GENRE_PROGRAMS

        program = GENRE_PROGRAMS.get(genre, 0)
        piece = self._call("generate", genre, count=1, seconds=seconds, temperature=temperature, seed=seed,
                           program=program)[0]
        return piece["notes"], program
