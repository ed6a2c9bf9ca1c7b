"""``scorezoo export`` / ``serve`` / ``client``: thin wrappers over the ``serving`` package."""
from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path

import click

from serving import defaults


def _message(exc: Exception) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


@click.command("export")
@click.argument("model_name", required=False)
@click.option("--all", "export_all", is_flag=True, help="Export every model with shipped weights.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("serving/models"), show_default=True,
              help="Models folder; the SavedModel goes to OUT/MODEL_NAME/VERSION.")
@click.option("--version", type=int, default=None, help="Version number [default: next after the existing ones].")
@click.option("--weights", default="pretrained", show_default=True,
              help="'pretrained', a weights file or manifest folder, or 'none' (untrained; for tests).")
def export_cmd(model_name: str | None, export_all: bool, out: Path, version: int | None, weights: str) -> None:
    """Export MODEL_NAME (or, with --all, every model with shipped weights: what serving/models.config serves) as a
    TF Serving SavedModel (signatures on raw bytes), atomically, never overwriting."""
    import zoo
    from serving.export import ExportError, export
    from zoo.pretrained import WeightsError

    if export_all == bool(model_name):
        raise click.UsageError("name one MODEL_NAME, or pass --all")
    if export_all and weights != "pretrained":
        raise click.UsageError("--all exports the shipped weights; --weights is for one model")
    names = zoo.list_models(pretrained=True) if export_all else [model_name]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: clean the temporary folder first
    for name in names:
        try:
            path = export(name, out, version=version, weights=weights)
        except (KeyError, WeightsError, ExportError) as exc:
            raise click.ClickException(_message(exc)) from exc
        click.echo(str(path))


def _batch_caps(items: tuple[str, ...]) -> tuple[int | None, dict[str, int]]:
    """``--max-batch 64`` (every model) and ``--max-batch NAME=N`` (one model) → (default, per model)."""
    default, per_model = None, {}
    for item in items:
        name, _, value = item.rpartition("=")
        cap = int(value) if value.strip().isdigit() else 0
        if cap < 1:
            raise click.BadParameter(f"expected a positive number or NAME=NUMBER, got {item!r}",
                                     param_hint="--max-batch")
        if name:
            per_model[name] = cap
        else:
            default = cap
    return default, per_model


@click.command("serve")
@click.option("--model-config", type=click.Path(path_type=Path), default=Path("serving/models.config"),
              show_default=True, help="TF Serving model config (text proto).")
@click.option("--port", type=int, default=8500, show_default=True, help="gRPC port.")
@click.option("--rest-port", type=int, default=None, help="REST port (TF Serving uses 8501) [default: no REST].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--model-base", type=click.Path(path_type=Path), default=None,
              help="Local folder standing for the container's /models in base paths (e.g. serving/models).")
@click.option("--poll-seconds", type=float, default=2.0, show_default=True,
              help="How often to look for new versions (0: only at start).")
@click.option("--max-message-mb", type=click.IntRange(min=1), default=defaults.MAX_MESSAGE_MB, show_default=True,
              help="gRPC message and REST body size cap (request inputs: half of it).")
@click.option("--max-batch", "max_batch", multiple=True, metavar="[NAME=]N",
              help=f"Examples per request, for every model or for model NAME [default: {defaults.MAX_BATCH}].")
@click.option("--max-inflight-mb", type=click.IntRange(min=1), default=defaults.MAX_INFLIGHT_MB, show_default=True,
              help="Estimated working memory of all requests at once; beyond it RESOURCE_EXHAUSTED (HTTP 429).")
@click.option("--max-connections", type=click.IntRange(min=1), default=defaults.MAX_CONNECTIONS,
              show_default=True, help="Open REST connections at once; beyond it 503.")
def serve_cmd(model_config: Path, port: int, rest_port: int | None, host: str, model_base: Path | None,
              poll_seconds: float, max_message_mb: int, max_batch: tuple[str, ...], max_inflight_mb: int,
              max_connections: int) -> None:
    """Serve the configured models over TF Serving's gRPC API (and REST) until interrupted."""
    default_batch, model_batch = _batch_caps(max_batch)
    from serving import memory

    memory.rerun_with_jemalloc()  # memory handed back after a burst at full speed (serving/memory.py)
    from serving.config import ConfigError
    from serving.server import ModelServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        server = ModelServer.from_config(model_config, model_base, port=port, rest_port=rest_port, host=host,
                                         poll_seconds=poll_seconds, max_message_bytes=max_message_mb << 20,
                                         max_input_bytes=max_message_mb << 19,
                                         max_batch=default_batch or defaults.MAX_BATCH, model_max_batch=model_batch,
                                         max_inflight_mb=max_inflight_mb, max_connections=max_connections).start()
    except (ConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    for entry in server.manager.models.values():
        versions = sorted(entry.servables)
        click.echo(f"{entry.entry.name}: versions {versions or 'none yet'} from {entry.entry.base_path}", err=True)
    click.echo(f"gRPC on {host}:{server.port}" + (f", REST on {host}:{server.rest_port}" if rest_port is not None
                                                 else ""), err=True)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


@click.group("client")
def client() -> None:
    """Query a model server (tensorflow/serving or `scorezoo serve`) over gRPC."""


def _run_client(kind: str, files: tuple[Path, ...], server: str, model: str | None, timeout: float,
                as_json: bool, index_dir: Path | None = None, top: int = 10,
                scores: tuple[Path | None, Path | None] = (None, None)) -> None:
    from serving.client import GENRE_MODEL, OMR_MODEL, RETRIEVAL_MODEL, ServingClient, ServingError
    from zoo.cli.models import staff_label, write_scores
    from zoo.preprocessing.errors import InputError
    from zoo.search.index import SearchIndexError

    failed = 0
    with ServingClient(server, timeout=timeout) as c:
        model = model or {"genre": GENRE_MODEL, "recognize": OMR_MODEL, "search": RETRIEVAL_MODEL}[kind]
        for path in files:  # one request per file, so that a bad file gets its own error line
            try:
                # a page of several staves is split here, as the library splits it, and read in one request
                if kind == "genre":
                    results = c.genre([path], model=model)
                elif kind == "recognize":
                    results = c.recognize_page(path, model=model)
                else:
                    results = [{"matches": c.search(index_dir, path, top, model=model)}]
            except SearchIndexError as exc:
                raise click.ClickException(str(exc)) from None
            except InputError as exc:
                failed += 1
                error = str(exc)
            except OSError as exc:
                failed += 1
                error = f"cannot read: {exc.strerror or exc}"
            except ServingError as exc:
                if exc.code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                    raise click.ClickException(f"server {server}: {exc}") from exc
                failed += 1
                error = str(exc)
            else:
                result = results[0]
                if kind == "recognize" and any(scores):
                    write_scores([t for staff in results for t in staff["tokens"]], path, *scores, len(files))
                if as_json:
                    click.echo(json.dumps({"file": str(path), **result} if len(results) == 1 else
                                          {"file": str(path), "staves": results}))
                elif kind == "genre":
                    best = sorted(result["scores"].items(), key=lambda kv: -kv[1])[:3]
                    click.echo(f"{path}: {result['genre']}  ({', '.join(f'{g} {p:.2f}' for g, p in best)})")
                elif kind == "search":
                    click.echo(f"{path}: " + "; ".join(f"{m['item']} {m['score']:.3f}" for m in result["matches"]))
                else:
                    for k, staff in enumerate(results):
                        click.echo(f"{staff_label(path, k, results)}: {staff['semantic']}  "
                                   f"(confidence {staff['confidence']:.2f})")
                continue
            click.echo(json.dumps({"file": str(path), "error": error}) if as_json else f"{path}: error: {error}")
    if failed:
        sys.exit(1)


_SERVER = click.option("--server", default="127.0.0.1:8500", show_default=True, help="gRPC HOST:PORT.")
_TIMEOUT = click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds per request.")
_JSON = click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line, in input order.")


@client.command("genre")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_SERVER
@click.option("--model", default=None, help="Served model name [default: genre-cnn].")
@_TIMEOUT
@_JSON
def client_genre(files: tuple[Path, ...], server: str, model: str | None, timeout: float, as_json: bool) -> None:
    """Name the genre of each WAV FILE with the served model."""
    _run_client("genre", files, server, model, timeout, as_json)


@client.command("recognize")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_SERVER
@click.option("--model", default=None, help="Served model name [default: omr-resnet-bisru].")
@_TIMEOUT
@_JSON
@click.option("--musicxml", type=click.Path(path_type=Path), default=None,
              help="Write the reading as MusicXML: a file for one FILE, else a folder of <name>.musicxml.")
@click.option("--midi", type=click.Path(path_type=Path), default=None, help="Write MIDI, like --musicxml.")
def client_recognize(files: tuple[Path, ...], server: str, model: str | None, timeout: float,
                     as_json: bool, musicxml: Path | None, midi: Path | None) -> None:
    """Recognize each staff or page image FILE with the served model (PrIMuS semantic tokens)."""
    _run_client("recognize", files, server, model, timeout, as_json, scores=(musicxml, midi))


@client.command("search")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--index", "index_dir", type=click.Path(path_type=Path), required=True,
              help="A local index built by the model the server serves.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
@_SERVER
@click.option("--model", default=None, help="Served model name [default: retrieval-gcn].")
@_TIMEOUT
@_JSON
def client_search(files: tuple[Path, ...], index_dir: Path, top: int, server: str, model: str | None,
                  timeout: float, as_json: bool) -> None:
    """Search a local index with each FILE (a recording against scores, an image against recordings), embedded by
    the served model."""
    _run_client("search", files, server, model, timeout, as_json, index_dir, top)


@client.command("generate")
@click.option("--genre", required=True, help="chorale, classical, fiddle, folk, renaissance, or none.")
@click.option("--seconds", type=click.FloatRange(0, 120, min_open=True), default=10.0, show_default=True)
@click.option("--count", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--temperature", type=click.FloatRange(0.05, 5.0), default=1.0, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@click.option("--program", type=click.IntRange(0, 127), default=None,
              help="General MIDI program [default: one suited to the genre].")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True)
@_SERVER
@click.option("--model", default="gen-lstm", show_default=True, help="Served generator.")
@_TIMEOUT
@_JSON
def client_generate(genre: str, seconds: float, count: int, temperature: float, seed: int, program: int | None,
                    out: Path, server: str, model: str, timeout: float, as_json: bool) -> None:
    """Generate COUNT pieces in GENRE with the served generator (its sampling loop runs in the server); write each
    as NAME.mid, and NAME.wav and NAME.png rendered here, as `scorezoo generate` does."""
    from serving.client import ServingClient, ServingError
    from zoo.generation import render
    from zoo.models.generation import GENRE_PROGRAMS

    program = GENRE_PROGRAMS.get(genre, 0) if program is None else program
    try:
        with ServingClient(server, timeout=timeout) as c:
            pieces = c.generate(genre, count, seconds, temperature, seed, program, model=model, out_dir=out)
    except ServingError as exc:
        raise click.ClickException(f"server {server}: {exc.message or exc}") from None
    for k, piece in enumerate(pieces):
        name = Path(piece["path"]).stem
        paths = render.write_sample(out, name, piece["notes"], program, seconds,
                                    f"{model} (served v{piece['model_version']}), {genre}, seed {seed}, sample {k}")
        line = {"name": name, "genre": genre, "model": model, "model_version": int(piece["model_version"]),
                "notes": len(piece["notes"]), **{kind: str(p) for kind, p in paths.items()}}
        click.echo(json.dumps(line) if as_json else f"{paths['wav']}  ({len(piece['notes'])} notes; also .mid, .png)")
