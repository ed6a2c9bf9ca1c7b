"""``scorezoo generate``: music in a genre from gen-lstm or gen-rbm, written as MIDI, audio and a picture."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

PRIMER_CONTEXT_SECONDS = 20.0  # the generator reads the primer's last seconds; the written piece keeps all of it


def read_primer(path: Path) -> list:
    """A MIDI file's notes (every channel but drums), or a sentence naming what is wrong with it."""
    from zoo.datasets import events as ev

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint="--primer") from None
    try:
        marks = ev.midi_note_events(data)
    except Exception as exc:  # mido raises several types (OSError, EOFError, ValueError) for a file that is not MIDI
        raise click.BadParameter(f"{path} is not a readable MIDI file ({exc})", param_hint="--primer") from None
    if not any(m.on for m in marks):
        raise click.BadParameter(f"{path} has no notes to continue", param_hint="--primer")
    end = max(m.time for m in marks)
    return ev.notes_of(ev.encode_window(marks, 0.0, end + ev.SHIFT_STEP))


@click.command("generate")
@click.option("--genre", required=True, help="chorale, classical, fiddle, folk, renaissance, or none (unconditioned).")
@click.option("--model", "model_name", type=click.Choice(["gen-lstm", "gen-rbm"]), default="gen-lstm",
              show_default=True)
@click.option("--weights", default="pretrained", show_default=True, help="'pretrained' or a run folder.")
@click.option("--seconds", type=click.FloatRange(0, 120, min_open=True), default=10.0, show_default=True)
@click.option("--count", type=click.IntRange(1, 10000), default=1, show_default=True)
@click.option("--temperature", type=click.FloatRange(0.05, 5.0), default=1.0, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True,
              help="The same seed gives the same music.")
@click.option("--primer", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="A MIDI file to continue: its last 20 s are read, and each piece written starts with all of it.")
@click.option("--program", type=click.IntRange(0, 127), default=None,
              help="General MIDI program to render with [default: one suited to the genre].")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sample on stdout.")
def generate_cmd(genre: str, model_name: str, weights: str, seconds: float, count: int, temperature: float,
                 seed: int, primer: Path | None, program: int | None, out: Path, as_json: bool) -> None:
    """Generate COUNT pieces of SECONDS in GENRE: NAME.mid, NAME.wav and NAME.png (piano roll over log-mel) each."""
    from tqdm import tqdm

    import zoo
    from zoo.datasets import events as ev
    from zoo.generation import render
    from zoo.models.generation import GENRE_PROGRAMS, GenerationInputError
    from zoo.pretrained import WeightsError

    primer_notes = read_primer(primer) if primer else None
    try:
        model = zoo.load(model_name, weights)
        model.genre_id(genre)  # an unknown genre fails before any work
    except (GenerationInputError, WeightsError) as exc:
        raise click.UsageError(str(exc)) from None
    program = GENRE_PROGRAMS.get(genre, 0) if program is None else program
    context, offset, cut = None, 0.0, None
    if primer_notes:
        offset = max(n.end for n in primer_notes)
        start = max(0.0, offset - PRIMER_CONTEXT_SECONDS)
        context = [ev.Note(n.pitch, n.start - start, n.end - start) for n in primer_notes if n.end > start]
        context = [ev.Note(n.pitch, max(0.0, n.start), n.end) for n in context]
        cut = offset - start
    samples = model.generate(None if genre == "none" else genre, seconds, count, temperature, seed,
                             primer=context, program=program, primer_cut=cut)
    out.mkdir(parents=True, exist_ok=True)
    for k, sample in enumerate(tqdm(samples, desc="rendering", unit="piece", disable=count < 2 or as_json)):
        notes = sample.notes
        if primer_notes:
            notes = primer_notes + [ev.Note(n.pitch, n.start + offset, n.end + offset) for n in notes]
        name = f"{genre}-{model_name}-seed{seed}-{k:03d}"
        paths = render.write_sample(out, name, notes, program, offset + seconds,
                                    f"{model_name}, {genre}, seed {seed}, sample {k}")
        line = {"name": name, "genre": genre, "model": model_name, "notes": len(notes),
                **{kind: str(p) for kind, p in paths.items()}}
        click.echo(json.dumps(line) if as_json else f"{paths['wav']}  ({len(notes)} notes; also .mid, .png)")
    sys.stdout.flush()
