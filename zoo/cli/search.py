"""``scorezoo index build``, ``scorezoo search`` and ``scorezoo embed``: audio ↔ sheet retrieval from the shell."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from zoo.cli.models import _each, _load


@click.group("index")
def index() -> None:
    """Searchable indexes of scores, pages or recordings (one modality per index)."""


@index.command("build")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The index folder (created or extended).")
@click.option("--model", "model_name", default="retrieval-gcn", show_default=True)
@click.option("--weights", default="pretrained", show_default=True, help="'pretrained' or a trained run folder.")
def index_build_cmd(inputs: tuple[Path, ...], out: Path, model_name: str, weights: str) -> None:
    """Index INPUTS (files or folders): scores (MusicXML, .mxl, MEI, ABC, Humdrum; engraved by Verovio), page
    images (PNG/JPEG), PDFs, or recordings (WAV/FLAC/OGG/MP3). A re-run adds new files only; a bad file is skipped
    with its reason (exit status 1 at the end)."""
    from tqdm import tqdm

    from zoo.search import index as search_index
    from zoo.search import sources

    try:
        files = sources.expand(list(inputs))
    except sources.SourceError as exc:
        raise click.ClickException(str(exc)) from None
    if not files:
        raise click.ClickException("no score, image, PDF or recording found in the inputs")
    model = _load(model_name, weights)
    try:
        report = search_index.build(files, out, model, progress=lambda xs: tqdm(xs, desc="index", unit="file"))
    except search_index.SearchIndexError as exc:
        raise click.ClickException(str(exc)) from None
    for path, reason in report["skipped"].items():
        click.echo(f"skipped {path}: {reason}", err=True)
    click.echo(f"{out}: {report['vectors']:,} {report['modality'] or ''} windows; added {len(report['added'])} "
               f"file(s), {len(report['already'])} already indexed, {len(report['skipped'])} skipped")
    if report["skipped"]:
        sys.exit(1)


@click.command("search")
@click.argument("queries", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--index", "index_dir", type=click.Path(path_type=Path), required=True, help="An index folder.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--weights", default="pretrained", show_default=True,
              help="'pretrained' or the run folder of the model that built the index.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query and line, in input order.")
def search_cmd(queries: tuple[Path, ...], index_dir: Path, top: int, weights: str, as_json: bool) -> None:
    """Find the indexed files that match each QUERY of the other modality (a recording against scores, a page or
    snippet image against recordings), best first, with positions: page, system (staff from the top) and x
    (pixels) on the sheet, seconds in the recording."""
    import zoo
    from zoo.search import index as search_index

    try:
        found = search_index.Index.open(index_dir)
        model = zoo.load(found.model["name"], weights=weights)
        found.check_model(model)
    except search_index.SearchIndexError as exc:
        raise click.ClickException(str(exc)) from None
    except (KeyError, RuntimeError) as exc:
        raise click.ClickException(f"the index's model cannot be loaded: {exc}") from None

    def run(path: Path) -> list[dict]:
        return search_index.search(found, model, path, top)

    def show(path: Path, matches: list[dict]) -> None:
        if as_json:
            click.echo(json.dumps({"file": str(path), "matches": matches}))
            return
        click.echo(f"{path}:")
        for rank, m in enumerate(matches, start=1):
            where = ", ".join(f"{k} {m[k]}" for k in ("page", "system", "x", "seconds") if m[k] is not None)
            click.echo(f"  {rank:>2}. {m['item']}  score {m['score']:.3f}  ({where})")

    _each(queries, run, show, as_json)


@click.command("embed")
@click.argument("modality", type=click.Choice(["audio", "sheet"]))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "model_name", default="retrieval-gcn", show_default=True)
@click.option("--weights", default="pretrained", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line (the default output).")
def embed_cmd(modality: str, files: tuple[Path, ...], model_name: str, weights: str, as_json: bool) -> None:
    """Embedding vectors of FILES, one per window: recordings every 0.5 s (2-s excerpts), sheets along every
    staff; each with its position."""
    from zoo.search import index as search_index
    from zoo.search import sources

    model = _load(model_name, weights)

    def run(path: Path) -> dict:
        if sources.modality_of(path) != modality:
            raise sources.SourceError(f"{path.name} is not {modality}")
        found = search_index.file_windows(path, modality)
        vectors = model.embed_array(modality, found.inputs)
        return {"windows": [{**p, "vector": [round(float(v), 5) for v in vec]}
                            for p, vec in zip(found.positions, vectors)]}

    _each(files, run, lambda path, r: click.echo(json.dumps({"file": str(path), **r})), True)
