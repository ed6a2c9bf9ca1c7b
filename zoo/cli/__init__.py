"""The ``scorezoo`` command: parses arguments and calls the library, nothing more."""
from __future__ import annotations

import json
from pathlib import Path

import click

import zoo


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(zoo.__version__, prog_name="scorezoo")
def main() -> None:
    """scorezoo — music score recognition, retrieval, genre and generation models."""


@main.command("models")
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True,
              help="One JSON array of model summaries, each with the signatures it is served with.")
@click.option("--served-dir", type=click.Path(path_type=Path), default=Path("serving/models"), show_default=True,
              help="Where `scorezoo export` wrote the SavedModels whose signatures --json lists.")
def models_cmd(pattern: str | None, as_json: bool, served_dir: Path) -> None:
    """List registered models (optionally matching a wildcard PATTERN such as 'omr*')."""
    summaries = [zoo.get_spec(n).summary() for n in zoo.list_models(pattern)]
    if as_json:
        from serving.export import served_signatures

        for s in summaries:  # null until `scorezoo export NAME` (or --all) has written a version
            s["served"] = served_signatures(served_dir / s["name"])
        click.echo(json.dumps(summaries, indent=2))
        return
    if not summaries:
        click.echo("No models registered.")
        return
    width = max(len(s["name"]) for s in summaries)
    for s in summaries:
        mark = "pretrained" if s["pretrained"] else "untrained "
        click.echo(f"{s['name']:<{width}}  {s['task']:<22} {mark}  {s['description']}")
        if "served" in s["input_spec"]:
            click.echo(f"{'':<{width}}  served input: {s['input_spec']['served']}")


def _register_subcommands() -> None:
    from zoo.cli import data as data_cli
    from zoo.cli import generate as generate_cli
    from zoo.cli import models as models_cli
    from zoo.cli import pipeline as pipeline_cli
    from zoo.cli import recipes as recipes_cli
    from zoo.cli import search as search_cli
    from zoo.cli import serving as serving_cli
    from zoo.cli import web as web_cli

    main.add_command(data_cli.data)
    main.add_command(models_cli.genre_cmd)
    main.add_command(generate_cli.generate_cmd)
    main.add_command(models_cli.train_cmd)
    main.add_command(models_cli.evaluate_cmd)
    main.add_command(models_cli.interpolate_cmd)
    main.add_command(models_cli.train_signs_cmd)
    main.add_command(models_cli.recognize_cmd)
    main.add_command(recipes_cli.recipe)
    main.add_command(search_cli.index)
    main.add_command(search_cli.search_cmd)
    main.add_command(search_cli.embed_cmd)
    main.add_command(pipeline_cli.pipeline)
    main.add_command(serving_cli.export_cmd)
    main.add_command(serving_cli.serve_cmd)
    main.add_command(serving_cli.client)
    main.add_command(web_cli.web_cmd)


_register_subcommands()
