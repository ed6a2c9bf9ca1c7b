"""Retrieval end to end on a tiny real pairs build: both training stages, the CLI's index build / search / embed,
and the SavedModel signatures answering what the library answers."""
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import zoo
from zoo.cli import main
from zoo.preprocessing import pages
from zoo.search import index as search_index
from zoo.search import sources, windows
from zoo.training import retrieval as trainer
from zoo.training.configs import training_config

FAST = ["train.max_epochs=1", "train.batch_size=16", "train.val_candidates=16"]


@pytest.fixture(scope="module")
def runs(pairs_all_splits, tmp_path_factory):
    root = tmp_path_factory.mktemp("retrieval")
    data = pairs_all_splits
    trainer.train("retrieval-dual", data, root / "dual", training_config("retrieval-dual", FAST))
    trainer.train("retrieval-gcn", data, root / "gcn", training_config(
        "retrieval-gcn", FAST + [f"train.init={root / 'dual'}", "train.bank_size=30", "model.neighbours=4"]))
    return root, data


def test_training_writes_loadable_models_with_a_checked_bank(runs):
    root, _ = runs
    manifest = json.loads((root / "gcn" / "manifest.json").read_text())
    assert manifest["bank"]["items"] == 30 and len(manifest["bank"]["sha256"]) == 64
    results = json.loads((root / "gcn" / "results.json").read_text())
    assert {"test", "test_transductive", "test_ensemble_audio"} <= set(results)
    model = zoo.load("retrieval-gcn", weights=str(root / "gcn"))
    assert model.bank["sheet"].shape == (30, 256)
    dual = zoo.load("retrieval-dual", weights=str(root / "dual"))
    # the frozen trunks are the dual's: the same raw features
    x = tf.random.uniform((2, 83, 128))
    np.testing.assert_allclose(model.raw_features("audio", x), dual.raw_features("audio", x), atol=1e-5)
    damaged = root / "gcn-damaged"
    shutil.copytree(root / "gcn", damaged)
    (damaged / "bank.npz").write_bytes((damaged / "bank.npz").read_bytes() + b"x")
    with pytest.raises(RuntimeError, match="reference bank for 'retrieval-gcn' are corrupt"):
        zoo.load("retrieval-gcn", weights=str(damaged))


def test_cli_index_build_search_and_embed(runs, tmp_path):
    root, data = runs
    segments = sorted(p for p in (data / "pairs").iterdir() if p.is_dir())[:3]
    scores = tmp_path / "scores"
    scores.mkdir()
    for k, seg in enumerate(segments):
        shutil.copy(seg / "page.png", scores / f"piece{k}.png")
    (scores / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    runner = CliRunner()
    weights = str(root / "gcn")
    built = runner.invoke(main, ["index", "build", str(scores), "--out", str(tmp_path / "idx"), "--weights", weights])
    assert built.exit_code == 1 and "broken.png" in built.output and "added 3 file(s)" in built.output
    again = runner.invoke(main, ["index", "build", str(scores / "piece0.png"), "--out", str(tmp_path / "idx"),
                                 "--weights", weights])
    assert again.exit_code == 0 and "1 already indexed" in again.output
    query = tmp_path / "query.wav"
    shutil.copy(segments[1] / "audio.wav", query)
    found = runner.invoke(main, ["search", "--index", str(tmp_path / "idx"), str(query), str(scores / "piece0.png"),
                                 "--top", "2", "--json", "--weights", weights])
    assert found.exit_code == 1
    lines = [json.loads(line) for line in found.output.strip().splitlines()]
    assert lines[0]["file"] == str(query) and len(lines[0]["matches"]) == 2
    assert set(lines[0]["matches"][0]) == {"item", "score", "page", "system", "x", "seconds"}
    assert lines[1]["error"] == "the query is sheet, like the index; query a sheet index with audio"
    other = runner.invoke(main, ["search", "--index", str(tmp_path / "idx"), str(query), "--weights",
                                 str(root / "dual")])
    assert other.exit_code != 0 and "was built with retrieval-gcn" in other.output
    embedded = runner.invoke(main, ["embed", "audio", str(query), "--weights", weights])
    windows_ = json.loads(embedded.output)["windows"]
    assert embedded.exit_code == 0 and windows_[0]["seconds"] == 1.0 and len(windows_[0]["vector"]) == 128


def test_saved_model_signatures_answer_as_the_library(runs, tmp_path):
    from serving import export

    root, data = runs
    model = zoo.load("retrieval-gcn", weights=str(root / "gcn"))
    path = export.export("retrieval-gcn", tmp_path, model=model)
    served = tf.saved_model.load(str(path))
    segment = sorted(p for p in (data / "pairs").iterdir() if p.is_dir())[0]
    recording = (segment / "ensemble.wav").read_bytes()
    out = served.signatures["embed_audio"](audio=tf.constant([recording, recording]))
    library = model.embed_array("audio", windows.recording_windows(*sources.recording(recording)).inputs)
    mine = out["vectors"].numpy()[out["input"].numpy() == 1]
    np.testing.assert_allclose(mine, library, atol=1e-4)
    page = (segment / "page.png").read_bytes()
    sheet = served.signatures["embed_sheet"](image=tf.constant([page]))
    found = windows.page_windows(pages.gray_image(page))
    np.testing.assert_allclose(sheet["vectors"].numpy(), model.embed_array("sheet", found.inputs), atol=1e-4)
    np.testing.assert_allclose(sheet["x"].numpy(), [p["x"] for p in found.positions], atol=0.05)
    with pytest.raises(tf.errors.InvalidArgumentError, match="no staff found"):
        served.signatures["embed_sheet"](image=tf.constant([_blank_png()]))


def _blank_png() -> bytes:
    return pages.png_bytes(np.full((60, 90), 255, np.uint8))


def test_an_interrupted_index_build_keeps_what_was_committed(runs, tmp_path, monkeypatch):
    root, data = runs
    model = zoo.load("retrieval-gcn", weights=str(root / "gcn"))
    segments = sorted(p for p in (data / "pairs").iterdir() if p.is_dir())[:2]
    files = []
    for k, seg in enumerate(segments):
        files.append(tmp_path / f"r{k}.wav")
        shutil.copy(seg / "audio.wav", files[-1])
    search_index.build(files[:1], tmp_path / "idx", model)
    calls = []

    def interrupted(path, modality):
        calls.append(path)
        raise KeyboardInterrupt

    monkeypatch.setattr(search_index, "file_windows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        search_index.build(files[1:], tmp_path / "idx", model)
    monkeypatch.undo()
    kept = search_index.Index.open(tmp_path / "idx")
    assert set(kept.files) == {"r0.wav"} and len(kept) == kept.vectors.ntotal > 0
    report = search_index.build(files, tmp_path / "idx", model)
    assert report["added"] == ["r1.wav"] and report["already"] == ["r0.wav"]
