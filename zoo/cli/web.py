"""``scorezoo web``: the page for people who do not write code (:mod:`zoo.web`)."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; 0.0.0.0 makes the page reachable from other machines.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--server", default=None,
              help="A model server's gRPC HOST:PORT (scorezoo serve or TF Serving) [default: load the models here].")
@click.option("--index", "index_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="A score collection indexed by `scorezoo index build`, searched with recordings.")
@click.option("--scores", "scores_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The folder the index was built from, to outline a match on its page [default: none].")
@click.option("--max-upload-mb", type=click.FloatRange(0.1, 1024), default=50.0, show_default=True)
def web_cmd(host: str, port: int, server: str | None, index_dir: Path | None, scores_dir: Path | None,
            max_upload_mb: float) -> None:
    """Serve the page: read a score from a photo, listen to a recording (genre, where it is in the scores), make
    music in a genre. Every answer comes from the served models (--server) or the library's own."""
    from aiohttp import web

    from zoo.web.app import create_app
    from zoo.web.backends import LocalBackend, ServedBackend

    if index_dir is not None and not (index_dir / "items.jsonl").is_file():
        raise click.ClickException(f"{index_dir} is not an index: build one with `scorezoo index build`")
    backend = ServedBackend(server, index_dir) if server else LocalBackend(index_dir)
    click.echo(f"scorezoo web: http://{host}:{port}/ (answers from {backend.name}; Ctrl-C stops it)")
    web.run_app(create_app(backend, index_dir, scores_dir, max_upload_mb), host=host, port=port, print=None)
