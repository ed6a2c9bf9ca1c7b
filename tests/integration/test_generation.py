"""The generators end to end on the tiny real genre build: training writes loadable models, `scorezoo generate`
writes MIDI, audio and a picture (and says what is wrong with a bad request), and the served `generate` signature
answers what the library answers, over gRPC and REST."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import portpicker
import pytest
import requests

import zoo
from serving import config as config_lib
from serving.client import ServingClient, ServingError
from serving.export import export
from serving.server import ModelServer
from zoo.datasets import events as ev
from zoo.training import generation as trainer
from zoo.training.configs import training_config

TINY = {"gen-lstm": ["model.layers=1", "model.units=16"], "gen-rbm": ["model.hidden=12", "model.recurrent=8",
                                                                       "model.gibbs_steps=3"]}


@pytest.fixture(scope="module")
def runs(genre_build, tmp_path_factory):
    data, _ = genre_build
    root = tmp_path_factory.mktemp("gen-runs")
    out = {}
    for name, sizes in TINY.items():
        config = training_config(name, sizes + ["train.steps=4", "train.eval_every=2", "train.batch_size=4",
                                                "train.sequence_length=32", "train.checkpoints=[2]",
                                                "train.verbose=0", "train.cd_steps=2"])
        summary = trainer.train(name, data, root / name, config)
        assert summary["steps_run"] == 4
        out[name] = root / name
    return out


def test_training_writes_loadable_models_with_their_figures(runs):
    for name, run in runs.items():
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["labels"] == ["chorale", "classical", "fiddle", "folk", "renaissance"]
        assert "test_frame_accuracy" in manifest["metrics"] or manifest["metrics"]["test_clips"] == 0
        assert (run / "checkpoint-2.npz").is_file() and (run / "training_curves.png").is_file()
        model = zoo.load(name, str(run))
        assert model.generate("folk", seconds=1)[0].seconds == 1


def scorezoo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=600)


def test_cli_generate_writes_midi_audio_and_a_picture_and_repeats_with_a_seed(runs, tmp_path):
    """The CLI writes the three files per piece, and its notes are the library's for the same seed (so a seed
    repeats: the library's sampling is a pure function of it)."""
    import zoo
    from zoo.models.generation import GENRE_PROGRAMS

    for name, run in runs.items():
        args = ["generate", "--genre", "fiddle", "--model", name, "--weights", str(run), "--seconds", "2",
                "--count", "2", "--seed", "4", "--json"]
        first = scorezoo(*args, "--out", str(tmp_path / name / "a"))
        assert first.returncode == 0, first.stderr
        lines = [json.loads(line) for line in first.stdout.splitlines()]
        assert len(lines) == 2
        for line in lines:
            for kind in ("mid", "wav", "png"):
                assert (tmp_path / name / "a" / f"{line['name']}.{kind}").stat().st_size > 0
        library = zoo.load(name, weights=str(run)).generate("fiddle", seconds=2, count=2, seed=4)
        for line, piece in zip(lines, library):
            assert (tmp_path / name / "a" / f"{line['name']}.mid").read_bytes() == \
                piece.midi(GENRE_PROGRAMS["fiddle"])


def test_cli_generate_continues_a_primer(runs, tmp_path):
    primer = tmp_path / "primer.mid"
    primer.write_bytes(ev.notes_to_midi([ev.Note(60, 0.0, 0.5), ev.Note(64, 0.5, 1.0), ev.Note(67, 1.0, 1.5)]))
    done = scorezoo("generate", "--genre", "folk", "--weights", str(runs["gen-lstm"]), "--seconds", "1",
                    "--primer", str(primer), "--out", str(tmp_path / "out"), "--json")
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)
    notes = ev.notes_of(ev.encode_window(ev.midi_note_events((tmp_path / "out" / f"{written['name']}.mid")
                                                             .read_bytes()), 0.0, 10.0))
    assert notes[:3] == [ev.Note(60, 0.0, 0.5), ev.Note(64, 0.5, 1.0), ev.Note(67, 1.0, 1.5)]
    assert all(n.end <= 2.5 + 1e-6 for n in notes)


@pytest.mark.parametrize("args, message", [
    (["--genre", "jazz"], "unknown genre 'jazz'; choose one of chorale, classical, fiddle, folk, renaissance"),
    (["--genre", "folk", "--seconds", "0"], "Invalid value for '--seconds'"),
    (["--genre", "folk", "--temperature", "9"], "Invalid value for '--temperature'"),
    (["--genre", "folk", "--primer", "README.md"], "is not a readable MIDI file"),
])
def test_cli_generate_names_the_problem(runs, tmp_path, args, message):
    done = scorezoo("generate", "--weights", str(runs["gen-lstm"]), *args, "--out", str(tmp_path))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_served_generate_answers_as_the_library(runs, tmp_path):
    root = tmp_path / "models"
    for name, run in runs.items():
        export(name, root, weights=str(run))
    entries = [config_lib.ModelEntry(name, root / name) for name in runs]
    rest_port = portpicker.pick_unused_port()
    server = ModelServer(entries, port=portpicker.pick_unused_port(), rest_port=rest_port, poll_seconds=0).start()
    try:
        with ServingClient(f"127.0.0.1:{server.port}", timeout=120) as client:
            for name, run in runs.items():
                library = zoo.load(name, str(run)).generate("chorale", seconds=2, count=3, seed=11)
                served = client.generate("chorale", count=3, seconds=2, seed=11, model=name, out_dir=tmp_path / name)
                assert [p["notes"] for p in served] == [s.notes for s in library]
                assert all((tmp_path / name / f"chorale-seed11-{k:03d}.mid").is_file() for k in range(3))
            with pytest.raises(ServingError) as bad:
                client.generate("jazz", model="gen-lstm")
            assert bad.value.code.name == "INVALID_ARGUMENT" and "genre must be one of" in str(bad.value)
        body = {"signature_name": "generate", "inputs": {"genre": ["folk"], "seconds": 1.0, "temperature": 1.0,
                                                         "seed": 2, "program": 73}}
        reply = requests.post(f"http://127.0.0.1:{rest_port}/v1/models/gen-lstm:predict", json=body, timeout=120)
        assert reply.status_code == 200, reply.text
        outputs = reply.json()["outputs"]
        events = np.asarray(outputs["events"][0][: outputs["lengths"][0]])
        library = zoo.load("gen-lstm", str(runs["gen-lstm"])).generate("folk", seconds=1, seed=2)[0]
        assert events.tolist() == library.events
    finally:
        server.stop()
