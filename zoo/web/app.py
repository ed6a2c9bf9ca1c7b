"""The page's web server (aiohttp): the page and its static files, and a JSON API.

``POST /api/recognize``, ``/api/genre`` and ``/api/search`` take the upload as the multipart form field ``file``
and answer the objects ``scorezoo recognize --json``, ``genre --json`` and ``search --json`` print, plus what the
page shows (``view``: the engraved notes, their audio and timemap; ``spectrogram``; ``outline``).
``POST /api/generate`` takes ``genre``, ``seconds``, ``temperature`` and ``seed`` (form or JSON) and answers the
piece's audio, MIDI and piano roll. ``GET /api/info`` says what the page is talking to.

Every error is JSON, ``{"error": "<a sentence>"}``, with a status a browser understands (400 bad input, 404 no
index, 413 too large, 503 model server down); models run in worker threads, so one long request does not stop the
server answering others.
"""
from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from zoo.web import media
from zoo.web.backends import Backend, BackendError

STATIC = Path(__file__).resolve().parent / "static"
MAX_UPLOAD_MB = 50
GENERATE_MAX_SECONDS = 60.0
WORKERS = 2  # this machine's cores; TensorFlow parallelizes inside each call

log = logging.getLogger(__name__)


def _error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def errors_as_sentences(request: web.Request, handler: Any) -> web.StreamResponse:
    """Bad input, a missing index, a server that is down: a sentence and a status, never a stack trace."""
    from zoo.models.generation import GenerationInputError
    from zoo.preprocessing.errors import InputError

    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return _error(f"the file is larger than {request.app['max_upload_mb']:g} MB, the most this page accepts",
                      413)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _error(exc.reason if exc.text is None or exc.text.startswith(str(exc.status)) else exc.text,
                          exc.status)
        raise
    except (InputError, GenerationInputError) as exc:
        return _error(str(exc), 400)
    except BackendError as exc:
        return _error(str(exc), exc.status)
    except Exception as exc:  # noqa: BLE001 - a sentence for the page; the trace goes to the log
        log.exception("request %s failed", request.path)
        return _error(f"the server failed on this request ({type(exc).__name__}: {exc})", 500)


async def _upload(request: web.Request) -> tuple[str, bytes]:
    """The multipart field ``file``: (its file name, its bytes)."""
    if not request.content_type.startswith("multipart/"):
        raise web.HTTPBadRequest(text="send the file as the multipart form field 'file'")
    form = await request.post()
    field = form.get("file")
    if field is None or not hasattr(field, "file"):
        raise web.HTTPBadRequest(text="no file: send it as the multipart form field 'file'")
    data = field.file.read()
    if not data:
        raise web.HTTPBadRequest(text=f"{field.filename or 'the file'} is empty")
    return field.filename or "upload", data


async def _run(request: web.Request, fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(request.app["executor"], fn, *args)


def _backend(request: web.Request) -> Backend:
    return request.app["backend"]


async def recognize(request: web.Request) -> web.Response:
    name, data = await _upload(request)
    staves = await _run(request, _backend(request).recognize, data)
    entry = {"file": name, **staves[0]} if len(staves) == 1 else {"file": name, "staves": staves}
    entry["view"] = await _run(request, media.score_view, [t for s in staves for t in s["tokens"]])
    entry["low_confidence"] = media.LOW_CONFIDENCE
    return web.json_response(entry)


async def genre(request: web.Request) -> web.Response:
    name, data = await _upload(request)
    result = await _run(request, _backend(request).genre, data)
    spectrogram = await _run(request, media.spectrogram_png, data, f"{name}: log-mel spectrogram")
    return web.json_response({"file": name, **result, "spectrogram": spectrogram})


async def search(request: web.Request) -> web.Response:
    name, data = await _upload(request)
    try:
        top = int(request.query.get("top", "5"))
    except ValueError:
        raise web.HTTPBadRequest(text="top must be a whole number of matches") from None
    matches = await _run(request, _backend(request).search, data, max(1, min(top, 50)))
    entry: dict[str, Any] = {"file": name, "matches": matches}
    scores_dir: Path | None = request.app["scores_dir"]
    if matches and scores_dir is not None and matches[0].get("system") is not None:
        entry["outline"] = await _run(request, _outline, scores_dir / matches[0]["item"], matches[0])
    return web.json_response(entry)


def _outline(path: Path, match: dict[str, Any]) -> str | None:
    """The best match outlined on its page, engraved or read as the index saw it (None if the file is gone)."""
    from zoo.search import sources

    if not path.is_file():
        return None
    page_images = sources.pages(path)
    page = int(match.get("page") or 1)
    if not 1 <= page <= len(page_images):
        return None
    return media.outlined_page(page_images[page - 1], int(match["system"]), float(match["x"]))


async def generate(request: web.Request) -> web.Response:
    if request.content_type == "application/json":
        try:
            fields = await request.json()
        except json.JSONDecodeError:
            raise web.HTTPBadRequest(text="the request body is not JSON") from None
    else:
        fields = dict(await request.post())
    try:
        genre_name = str(fields.get("genre", "fiddle"))
        seconds = float(fields.get("seconds", 10))
        temperature = float(fields.get("temperature", 1.0))
        seed = int(fields.get("seed", 0))
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(text="seconds and temperature must be numbers, seed a whole number") from None
    if not 0 < seconds <= GENERATE_MAX_SECONDS:
        raise web.HTTPBadRequest(text=f"seconds must be more than 0 and at most {GENERATE_MAX_SECONDS:g}")
    if not 0 <= seed < 2**31:
        raise web.HTTPBadRequest(text="seed must be between 0 and 2147483647")
    notes, program = await _run(request, _backend(request).generate, genre_name, seconds, temperature, seed)
    view = await _run(request, media.piece_view, notes, program, seconds, f"{genre_name}, seed {seed}")
    return web.json_response({"genre": genre_name, "seconds": seconds, "temperature": temperature, "seed": seed,
                              "program": program, **view})


async def info(request: web.Request) -> web.Response:
    from zoo.models.generation import GENRES

    app = request.app
    return web.json_response({"backend": app["backend"].name, "index": app["index_dir"] is not None,
                              "genres": list(GENRES), "max_upload_mb": app["max_upload_mb"],
                              "max_seconds": GENERATE_MAX_SECONDS})


async def index_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


def create_app(backend: Backend, index_dir: Path | None = None, scores_dir: Path | None = None,
               max_upload_mb: float = MAX_UPLOAD_MB) -> web.Application:
    """The page's application; ``scores_dir`` holds the indexed page images (to outline a match on its page)."""
    app = web.Application(middlewares=[errors_as_sentences], client_max_size=int(max_upload_mb * 2**20))
    app["backend"], app["index_dir"], app["scores_dir"] = backend, index_dir, scores_dir
    app["max_upload_mb"] = max_upload_mb
    app["executor"] = ThreadPoolExecutor(WORKERS, thread_name_prefix="scorezoo-web")
    app.on_cleanup.append(_shutdown)
    app.router.add_get("/", index_page)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/api/info", info)
    app.router.add_post("/api/recognize", recognize)
    app.router.add_post("/api/genre", genre)
    app.router.add_post("/api/search", search)
    app.router.add_post("/api/generate", generate)
    return app


async def _shutdown(app: web.Application) -> None:
    app["executor"].shutdown(wait=False, cancel_futures=True)
