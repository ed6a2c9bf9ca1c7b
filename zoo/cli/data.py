"""``scorezoo data …``: encode scores to PrIMuS tokens, build and preview datasets."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from zoo import paths

DATASETS = ("staff", "pairs", "genre")


@click.group()
def data() -> None:
    """Dataset tools: PrIMuS encoding, builders, previews."""


@data.command("encode")
@click.argument("score_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--part", default=0, show_default=True, help="Index of the part (staff) to encode.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line.")
def encode_cmd(score_files: tuple[Path, ...], part: int, as_json: bool) -> None:
    """Print the PrIMuS semantic tokens of one staff of each SCORE_FILE (any format music21 reads)."""
    from zoo.notation.readers import encode_file
    from zoo.notation.tokens import EncodingError

    failed = 0
    for path in score_files:
        try:
            tokens = encode_file(path, part=part)
        except EncodingError as exc:
            failed += 1
            if as_json:
                click.echo(json.dumps({"file": str(path), "error": str(exc)}))
            else:
                click.echo(f"{path}: error: {exc}", err=True)
            continue
        click.echo(json.dumps({"file": str(path), "tokens": tokens}) if as_json else "\t".join(tokens))
    if failed:
        sys.exit(1)


@data.command("build")
@click.argument("dataset", type=click.Choice(DATASETS))
@click.option("--limit", type=int, default=None, help="Stop after N samples (small builds for tests).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder [default: <data dir>/<dataset>].")
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--fonts", default=None, help="Comma-separated Verovio fonts (staff/pairs).")
@click.option("--soundfont", type=click.Path(path_type=Path), default=None, help="SF2 file (pairs/genre).")
@click.option("--recipe", default=None, help="Recipe name or JSON path [default: the dataset's].")
def build_cmd(dataset: str, limit: int | None, out: Path | None, workers: int, fonts: str | None,
              soundfont: Path | None, recipe: str | None) -> None:
    """Build (or resume) a dataset from the music21 corpus and print its build report."""
    from zoo.datasets import builders

    out = out or paths.data_dir() / dataset
    kwargs = {"limit": limit, "workers": workers, "recipe": recipe or dataset}
    if fonts:
        kwargs["fonts"] = [f.strip() for f in fonts.split(",") if f.strip()]
    if soundfont:
        kwargs["soundfont"] = str(soundfont)
    try:
        report = builders.build(dataset, out, **kwargs)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(report, indent=2))
    click.echo(f"report: {out / 'build_report.json'}", err=True)


@data.command("distort")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Staff dataset folder [default: <data dir>/staff].")
@click.option("--split", default="test", show_default=True)
@click.option("--seed", type=int, default=None, help="Distortion seed [default: the fixed Camera-PrIMuS seed].")
def distort_cmd(data_dir: Path | None, split: str, seed: int | None) -> None:
    """Write a Camera-PrIMuS-style distorted copy of a staff split (tfrecords/<split>_distorted)."""
    from zoo.datasets import staff

    data_dir = data_dir or paths.data_dir() / "staff"
    try:
        n = staff.write_distorted_split(data_dir, split, **({"seed": seed} if seed is not None else {}))
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{n} distorted {split} examples → {data_dir / 'tfrecords' / (split + staff.DISTORTED_SUFFIX)}")


@data.command("show")
@click.argument("dataset", type=click.Choice(DATASETS))
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Dataset folder [default: <data dir>/<dataset>].")
@click.option("--split", default="test", show_default=True)
@click.option("-n", "count", default=8, show_default=True, help="How many samples.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="PNG to write.")
def show_cmd(dataset: str, data_dir: Path | None, split: str, count: int, out: Path) -> None:
    """Write a preview PNG of a built dataset."""
    from zoo.datasets import preview

    try:
        path = preview.show(dataset, data_dir or paths.data_dir() / dataset, split, count, out)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(str(path))
