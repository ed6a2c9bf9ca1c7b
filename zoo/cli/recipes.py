"""``scorezoo recipe``: run the training recipes that made the shipped models (stages as data)."""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("recipe")
def recipe() -> None:
    """Training recipes: the stages behind a shipped model, written as data and run in order."""


@recipe.command("list")
def list_cmd() -> None:
    """Name the recipes that ship with scorezoo."""
    from zoo.training import recipes

    for name in recipes.available():
        click.echo(name)


@recipe.command("run")
@click.argument("name")
@click.option("--runs", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True,
              help="Folder of the stages' run folders.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Staff data [default: the recipe's].")
@click.option("--until", default=None, help="Stop after this stage.")
@click.option("--dry-run", is_flag=True, help="Check every stage and print the commands and settings, run nothing.")
def run_cmd(name: str, runs: Path, data_dir: Path | None, until: str | None, dry_run: bool) -> None:
    """Run recipe NAME (a shipped recipe or a JSON file): each stage not done yet, in order, in its own process.
    A stage whose run folder holds a manifest is done, so a stopped recipe resumes where it stopped."""
    import subprocess

    from zoo.training import recipes

    try:
        stages = recipes.plan(recipes.read(name), runs, data_dir)
    except recipes.RecipeError as exc:
        raise click.ClickException(str(exc)) from None
    if until is not None and until not in [s.name for s in stages]:
        raise click.BadParameter(f"no stage {until!r}; the stages are {', '.join(s.name for s in stages)}",
                                 param_hint="--until")
    if dry_run:
        for stage in stages:
            state = "done" if (stage.out / "manifest.json").is_file() else "to run"
            click.echo(f"== {stage.name} ({state}): scorezoo {' '.join(stage.command)}")
            if stage.settings:
                click.echo(json.dumps(stage.settings))
        return
    try:
        recipes.run(stages, until, echo=lambda line: click.echo(line, err=True))
    except subprocess.CalledProcessError as exc:
        raise click.ClickException(f"a stage failed (exit status {exc.returncode}); fix it and run the recipe "
                                   "again: the stages done are kept") from None
