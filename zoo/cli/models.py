"""``scorezoo genre`` / ``scorezoo train``: use and train zoo models."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click

from zoo import paths

# model name → (training module, dataset it trains on)
TRAINERS = {"genre-cnn": ("zoo.training.genre", "genre"), "omr-resnet-bisru": ("zoo.training.omr", "staff"),
            "omr-crnn-bilstm": ("zoo.training.omr", "staff"), "retrieval-dual": ("zoo.training.retrieval", "pairs"),
            "retrieval-gcn": ("zoo.training.retrieval", "pairs"), "gen-lstm": ("zoo.training.generation", "genre"),
            "gen-rbm": ("zoo.training.generation", "genre")}


@click.command("genre")
@click.argument("audio_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "model_name", default="genre-cnn", show_default=True)
@click.option("--weights", default="pretrained", show_default=True, help="'pretrained', a weights file or a folder.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line, in input order.")
def genre_cmd(audio_files: tuple[Path, ...], model_name: str, weights: str, as_json: bool) -> None:
    """Name the genre of each AUDIO_FILE (WAV, FLAC, OGG, MP3); the model is loaded once."""
    model = _load(model_name, weights)

    def show(path: Path, result: dict) -> None:
        if as_json:
            click.echo(json.dumps({"file": str(path), **result}))
        else:
            top = sorted(result["scores"].items(), key=lambda kv: -kv[1])[:3]
            click.echo(f"{path}: {result['genre']}  ({', '.join(f'{g} {p:.2f}' for g, p in top)})")

    _each(audio_files, model.predict, show, as_json)


def _each(paths_: tuple[Path, ...], run, show, as_json: bool) -> None:
    """``show(path, run(path))`` for every input in order; one that fails gets its own error line instead, and
    the exit status is 1 when any failed."""
    from zoo.preprocessing.errors import InputError

    failed = 0
    for path in paths_:
        try:
            result = run(path)
        except InputError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one input's failure must not cost the others their answers
            error = f"{type(exc).__name__}: {exc}"
        else:
            show(path, result)
            continue
        failed += 1
        click.echo(json.dumps({"file": str(path), "error": error}) if as_json else f"{path}: error: {error}")
    if failed:
        sys.exit(1)


@click.command("train")
@click.argument("model_name", type=click.Choice(sorted(TRAINERS)))
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Built dataset folder [default: <data dir>/<dataset>].")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run folder for weights and plots.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Maximum epochs (train.epochs for genre, train.max_epochs for omr).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Wall-time budget (omr: train.minutes) [default: 60].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="train.batch_size [genre: 32, omr: 16]")
@click.option("--warm-start", default=None,
              help="'pretrained', a run folder (with manifest.json) or a weights path to start from.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A JSON file of settings, nested as the config is (model, train, augment, data).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="One setting, dotted: --set train.learning_rate=3e-4, --set model.rnn=lstm, "
              "--set augment.width_scale=[0.75,1.5], --set data.extra_data=[\"DIR\"] (repeatable; an unknown key "
              "is an error naming the closest).")
@click.option("--ship", is_flag=True, help="Copy the trained weights + manifest into the package's pretrained folder.")
def train_cmd(model_name: str, data_dir: Path | None, out: Path, epochs: int | None, minutes: float | None,
              batch_size: int | None, warm_start: str | None, config_file: Path | None, overrides: tuple[str, ...],
              ship: bool) -> None:
    """Train MODEL_NAME on its dataset; writes weights, manifest, history and plots under --out."""
    import importlib

    module, dataset = TRAINERS[model_name]
    trainer = importlib.import_module(module)
    data_dir = data_dir or paths.data_dir() / dataset
    config = training_config_of(model_name, dataset, config_file, overrides, epochs, minutes, batch_size)
    if model_name == "genre-cnn":
        summary = trainer.train(data_dir, out, config, warm_start=warm_start)
        summary = {k: v for k, v in summary.items() if k != "results"} | {
            "test": {k: v for k, v in summary["results"]["test"].items() if k not in ("confusion", "errors")}}
    else:
        summary = trainer.train(model_name, data_dir, out, config, warm_start=warm_start)
    click.echo(json.dumps(summary, indent=2))
    if ship:
        from zoo.pretrained import MANIFEST_NAME, Manifest

        target = paths.SHIPPED_PRETRAINED_DIR / model_name
        target.mkdir(parents=True, exist_ok=True)
        for name in [MANIFEST_NAME] + [e["file"] for e in Manifest.read(out).files().values()]:
            shutil.copy2(out / name, target / name)
        click.echo(f"shipped: {target}", err=True)


def training_config_of(model_name: str, dataset: str, config_file: Path | None, overrides: tuple[str, ...],
                       epochs: int | None, minutes: float | None, batch_size: int | None):
    """The typed training config from a settings file, ``--set`` and the shortcut options, or a usage error
    naming the bad setting."""
    from zoo.config import ConfigError
    from zoo.training.configs import training_config

    shortcuts = [f"train.{key}={value}" for key, value in (
        ("epochs" if model_name == "genre-cnn" else "max_epochs", epochs), ("batch_size", batch_size),
        ("minutes", minutes)) if value is not None]
    if epochs is not None and model_name.startswith("gen-"):
        raise click.BadParameter(f"{model_name} trains for iterations: --set train.steps=N", param_hint="--epochs")
    if minutes is not None and model_name == "genre-cnn":
        raise click.BadParameter("genre-cnn trains for --epochs, not a wall-time budget", param_hint="--minutes")
    try:
        base = json.loads(config_file.read_text(encoding="utf-8")) if config_file else None
        return training_config(model_name, list(shortcuts) + list(overrides), base)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{config_file} is not JSON: {exc}", param_hint="--config") from None
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--set/--config") from None


@click.command("interpolate")
@click.argument("model_name", type=click.Choice(sorted(TRAINERS)))
@click.argument("start")
@click.argument("end")
@click.option("--alpha", type=click.FloatRange(0.0, 1.0), required=True,
              help="Share of END: 0 gives START's weights, 1 gives END's.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run folder to write.")
def interpolate_cmd(model_name: str, start: str, end: str, alpha: float, out: Path) -> None:
    """Write the weights (1 − ALPHA)·START + ALPHA·END of two runs of one lineage ('pretrained' or run folders),
    as WiSE-FT does to keep most of what a continued training gained and lost; choose ALPHA on validation."""
    from zoo.training.interpolation import interpolate

    try:
        click.echo(str(interpolate(model_name, start, end, alpha, out)))
    except (ValueError, OSError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("train-signs")
@click.argument("model_name", type=click.Choice(["omr-resnet-bisru", "omr-crnn-bilstm"]))
@click.argument("start")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run folder to write.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Built staff dataset [default: <data dir>/staff].")
@click.option("--extra-data", multiple=True, help="Another staff build to draw training staves from (repeatable).")
@click.option("--extra-share", type=float, multiple=True, help="Share of the staves from each --extra-data.")
@click.option("--staves", type=click.IntRange(min=1), default=13000, show_default=True,
              help="Training staves whose features the head learns from.")
@click.option("--epochs", type=click.IntRange(min=1), default=6, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=3e-3, show_default=True)
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Sign probability below which a note shows no sign and takes its accidental from the context.")
@click.option("--seed", type=int, default=0, show_default=True)
def train_signs_cmd(model_name: str, start: str, out: Path, data_dir: Path | None, extra_data: tuple[str, ...],
                    extra_share: tuple[float, ...], staves: int, epochs: int, learning_rate: float, threshold: float,
                    seed: int) -> None:
    """Write START ('pretrained' or a run folder) with a sign head trained on its frozen features: notes that
    show no accidental sign then take theirs from the key signature, the bar or a tie, and a note the network
    doubts moves to the line or space the head reads."""
    from zoo.training.sign_head import train_sign_head

    try:
        click.echo(str(train_sign_head(model_name, start, out, data_dir or paths.data_dir() / "staff",
                                       list(extra_data), list(extra_share), staves, epochs, learning_rate,
                                       threshold, seed)))
    except (ValueError, OSError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc


RULES_OPTION = click.option(
    "--rules", default=None, metavar="all|none|R1,R2",
    help="Omr models: the reading rules to run (rhythm, key, place, accidentals, ties; the last four read the sign "
    "head) [default: the model's, from its manifest].")


def _set_rules(model, rules: str) -> None:
    """Switch the model's reading rules to ``rules`` (a bad name is a usage error naming the rules there are)."""
    from zoo.config import ConfigError
    from zoo.decoding.config import parse_rules

    if not hasattr(model, "reading"):
        raise click.BadParameter("only score recognition models have reading rules", param_hint="--rules")
    try:
        model.reading = model.reading.only(parse_rules(rules))
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--rules") from None


@click.command("evaluate")
@click.argument("model_name", type=click.Choice(sorted(TRAINERS)))
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Built dataset folder [default: <data dir>/<dataset>].")
@click.option("--split", default="test", show_default=True,
              help="train, validation, test, or a written copy such as test_distorted (scorezoo data distort).")
@click.option("--weights", default="pretrained", show_default=True, help="'pretrained', a weights file or a folder.")
@click.option("--beam", type=click.IntRange(min=0), default=0, show_default=True,
              help="CTC prefix beam width (omr models; 0: greedy).")
@click.option("--by", type=click.Choice(["clef", "key", "time"]), default=None,
              help="Omr models: the same figures per opening clef, key or time signature of the reference too.")
@click.option("--width-scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Omr models: stretch every staff horizontally by this factor first (other engravings' spacing).")
@click.option("--margin", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Omr models: add this share of each staff's height of white paper above and below first "
              "(a loosely cropped staff).")
@click.option("--tta", is_flag=True, help="Omr models: read each staff at five horizontal spacings and keep the "
              "reading most agree on (about 5x slower).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Omr models: score a fixed random N staves of the split (the same staves in every run), e.g. to "
              "compare the train split with validation without reading all of it.")
@RULES_OPTION
def evaluate_cmd(model_name: str, data_dir: Path | None, split: str, weights: str, beam: int,
                 by: str | None, width_scale: float, margin: float, tta: bool, limit: int | None,
                 rules: str | None) -> None:
    """Score MODEL_NAME on one split of a built dataset; prints JSON (genre: accuracies, confusion, misread clips;
    omr: SER, sequence error rate, errors by token type)."""
    import importlib

    from zoo.datasets import tfrecords

    module, dataset = TRAINERS[model_name]
    data_dir = data_dir or paths.data_dir() / dataset
    found = tfrecords.splits_with_records(data_dir, dataset)
    if split not in found:
        raise click.BadParameter(f"{data_dir} has no {dataset} records in a {split!r} split "
                                 f"(found: {', '.join(found) or 'none'})", param_hint="--split/--data")
    if beam and dataset == "genre":
        raise click.BadParameter("only score recognition models decode with a beam", param_hint="--beam")
    if by and dataset == "genre":
        raise click.BadParameter("only score recognition models group staves by clef, key or time", param_hint="--by")
    # how the staves are read (when not as engraved) and how many: reported beside the figures, omr models only
    reading = {name: value for name, value, used in (("width_scale", width_scale, width_scale != 1.0),
                                                     ("margin", margin, margin > 0), ("tta", tta, tta),
                                                     ("limit", limit, limit is not None),
                                                     ("rules", rules, rules is not None)) if used}
    if reading and dataset == "genre":
        option = "--" + next(iter(reading)).replace("_", "-")
        raise click.BadParameter(f"only score recognition models take {option}", param_hint=option)
    trainer = importlib.import_module(module)
    model = _load(model_name, weights)
    if rules is not None:
        _set_rules(model, rules)
    try:
        if dataset == "genre":
            summary = trainer.evaluate(model.keras_model, trainer.load_split(data_dir, split))
        else:
            summary = trainer.evaluate(model, data_dir, split, limit=limit, beam=beam, by=by,
                                       width_scale=width_scale, tta=tta, margin=margin)
    except KeyError as exc:  # a genre label the model does not know
        raise click.ClickException(f"{data_dir} {split}: label {exc} is not one of the model's") from None
    click.echo(json.dumps({"model": model_name, "weights": weights, "data": str(data_dir), "split": split, **reading,
                           **summary}, indent=2))


@click.command("recognize")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "model_name", default="omr-resnet-bisru", show_default=True)
@click.option("--weights", default="pretrained", show_default=True, help="'pretrained', a weights file or a folder.")
@click.option("--beam", type=click.IntRange(min=0), default=0, show_default=True,
              help="CTC prefix beam width (0: greedy).")
@click.option("--tta", is_flag=True, help="Read each staff at five horizontal spacings and keep the reading most "
              "agree on (about 5x slower, fewer errors; adds each staff's 'agreement').")
@RULES_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line, in input order.")
@click.option("--musicxml", type=click.Path(path_type=Path), default=None,
              help="Write MusicXML: a file for one input, else a folder (one file per input).")
@click.option("--midi", type=click.Path(path_type=Path), default=None, help="Write MIDI, like --musicxml.")
def recognize_cmd(images: tuple[Path, ...], model_name: str, weights: str, beam: int, tta: bool, rules: str | None,
                  as_json: bool, musicxml: Path | None, midi: Path | None) -> None:
    """Recognize staff images (or pages of single-staff systems; PNG, JPEG, BMP, WEBP, TIFF or PDF, every page) as
    PrIMuS semantic tokens."""

    model = _load(model_name, weights)
    if rules is not None:
        _set_rules(model, rules)

    def read(path: Path) -> list[dict]:
        return model.recognize_page(path, beam, tta)  # a page's staves, or the whole image (one staff, a photo)

    def show(path: Path, staves: list[dict]) -> None:
        write_scores([t for s in staves for t in s["tokens"]], path, musicxml, midi, len(images))
        if as_json:
            entry = {"file": str(path), **staves[0]} if len(staves) == 1 else {"file": str(path), "staves": staves}
            click.echo(json.dumps(entry))
        else:
            for k, s in enumerate(staves):
                click.echo(f"{staff_label(path, k, staves)} (confidence {s['confidence']:.3f}):\n"
                           + "\t".join(s["tokens"]))

    _each(images, read, show, as_json)


def staff_label(path: Path, k: int, staves: list[dict]) -> str:
    """How the CLI names result ``k`` of a file: the file, then its page and staff when it has several."""
    if len(staves) == 1:
        return str(path)
    page = staves[k].get("page")
    staff = sum(1 for s in staves[: k + 1] if s.get("page") == page)  # its number on its page
    return f"{path} [{f'page {page}, ' if page else ''}staff {staff}]"


def write_scores(tokens: list[str], source: Path, musicxml: Path | None, midi: Path | None, n: int) -> None:
    """Recognized tokens as MusicXML and/or MIDI (a file when one input, else ``<folder>/<input stem>.<suffix>``);
    the local and the served recognizer write alike."""
    from zoo.notation.decoder import tokens_to_stream

    for target, fmt, suffix in ((musicxml, "musicxml", ".musicxml"), (midi, "midi", ".mid")):
        if target is None:
            continue
        out = target if n == 1 and target.suffix else target / (source.stem + suffix)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            tokens_to_stream(list(tokens)).write(fmt, fp=str(out))
        except Exception as exc:  # music21 refuses some token soups a weak model can emit
            click.echo(f"{source}: could not write {fmt}: {exc}", err=True)


def _load(model_name: str, weights: str):
    """The model, or a one-line CLI error (unknown name with suggestions, missing or corrupt weights)."""
    import zoo

    try:
        return zoo.load(model_name, weights=weights)
    except (KeyError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
