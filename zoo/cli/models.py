"""``scorezoo genre`` / ``scorezoo train``: use and train zoo models."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click

from zoo import paths

TRAINERS = {"genre-cnn": "zoo.training.genre"}


@click.command("genre")
@click.argument("audio_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "model_name", default="genre-cnn", show_default=True)
@click.option("--weights", default="pretrained", show_default=True, help="'pretrained', a weights file or a folder.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line, in input order.")
def genre_cmd(audio_files: tuple[Path, ...], model_name: str, weights: str, as_json: bool) -> None:
    """Name the genre of each AUDIO_FILE (WAV, FLAC, OGG, MP3); the model is loaded once."""
    import zoo
    from zoo.models.genre_cnn import AudioInputError

    try:
        model = zoo.load(model_name, weights=weights)
    except (KeyError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    failed = 0
    for path in audio_files:
        try:
            result = model.predict(path)
        except AudioInputError as exc:
            failed += 1
            click.echo(json.dumps({"file": str(path), "error": str(exc)}) if as_json else f"{path}: error: {exc}")
            continue
        if as_json:
            click.echo(json.dumps({"file": str(path), **result}))
        else:
            top = sorted(result["scores"].items(), key=lambda kv: -kv[1])[:3]
            click.echo(f"{path}: {result['genre']}  ({', '.join(f'{g} {p:.2f}' for g, p in top)})")
    if failed:
        sys.exit(1)


@click.command("train")
@click.argument("model_name", type=click.Choice(sorted(TRAINERS)))
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Built dataset folder [default: <data dir>/<dataset>].")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run folder for weights and plots.")
@click.option("--epochs", type=int, default=40, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--warm-start", default=None, help="'pretrained' or a weights path to start from.")
@click.option("--ship", is_flag=True, help="Copy the trained weights + manifest into the package's pretrained folder.")
def train_cmd(model_name: str, data_dir: Path | None, out: Path, epochs: int, batch_size: int,
              warm_start: str | None, ship: bool) -> None:
    """Train MODEL_NAME on its dataset; writes weights, manifest, history and plots under --out."""
    import importlib

    trainer = importlib.import_module(TRAINERS[model_name])
    summary = trainer.train(data_dir or paths.data_dir() / "genre", out, epochs=epochs, batch_size=batch_size,
                            warm_start=warm_start)
    click.echo(json.dumps({k: v for k, v in summary.items() if k != "results"} |
                          {"test": {k: v for k, v in summary["results"]["test"].items() if k != "confusion"}},
                          indent=2))
    if ship:
        target = paths.SHIPPED_PRETRAINED_DIR / model_name
        target.mkdir(parents=True, exist_ok=True)
        for name in ("manifest.json", f"{model_name}.weights.h5"):
            shutil.copy2(out / name, target / name)
        click.echo(f"shipped: {target}", err=True)
