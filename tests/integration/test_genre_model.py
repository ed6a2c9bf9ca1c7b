"""genre-cnn: predictions on raw audio, bad input, the serving signature, a short training run, the CLI."""
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

import zoo
from zoo.datasets import tfrecords
from zoo.models.genre_cnn import GENRES, AudioInputError
from zoo.preprocessing import audio
from zoo.training.configs import GenreConfig, GenreTrain, training_config


@pytest.fixture(scope="module")
def model():
    return zoo.create_model("genre-cnn")


@pytest.fixture(scope="module")
def clip(genre_build) -> bytes:
    out, _ = genre_build
    split = next(s for s in tfrecords.SPLITS if any((out / "tfrecords" / s).glob("genre-*.tfrecord")))
    return bytes(next(tfrecords.iter_examples(out, split, "genre"))["audio"])


def _wav(samples, rate=22050) -> bytes:
    return audio.wav_bytes(np.asarray(samples, np.float32), rate)


def test_registered_with_labels(model):
    assert "genre-cnn" in zoo.list_models("genre*")
    assert model.labels == list(GENRES)
    assert model.keras_model.output_shape == (None, len(GENRES))


def test_predict_bytes_and_path(model, clip, tmp_path):
    result = model.predict(clip)
    assert result["genre"] in GENRES
    assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    path = tmp_path / "clip.wav"
    path.write_bytes(clip)
    assert model.predict([path, clip])[0] == result


@pytest.mark.parametrize("data, message", [
    (b"", "audio bytes are empty"),
    (b"this is not audio at all, just text", "not a WAV/FLAC/OGG/MP3"),
    (_wav(np.zeros(int(0.4 * 22050)) + 0.1), "audio is 0.4 s long, at least 1.0 s is needed"),
])
def test_bad_audio_is_a_clear_error(model, data, message):
    with pytest.raises(AudioInputError, match=message):
        model.predict(data)


def test_missing_file_is_a_clear_error(model, tmp_path):
    with pytest.raises(AudioInputError, match="file not found"):
        model.predict(tmp_path / "nope.wav")


def test_silence_is_classified_not_rejected(model):
    """Documented behaviour: digital silence is valid audio; the log-mel sits at its floor."""
    result = model.predict(_wav(np.zeros(3 * 22050)))
    assert result["genre"] in GENRES


def test_long_file_is_processed_in_windows(model, clip):
    samples, rate = sf.read(io.BytesIO(clip))
    ten_minutes = np.tile(samples, 60)
    windows = model.preprocess(_wav(ten_minutes, rate))
    assert windows.shape == (60, audio.num_frames(10.0), audio.N_MELS)
    assert model.predict(_wav(ten_minutes, rate))["genre"] in GENRES


def test_serving_signature_takes_raw_wav_bytes(model, clip):
    fn = model.serving_signatures()["serving_default"]
    out = fn(tf.constant([clip, clip]))
    assert out["scores"].shape == (2, len(GENRES))
    assert out["genre"].numpy()[0].decode() in GENRES
    np.testing.assert_allclose(out["scores"].numpy()[0], model.predict_scores(clip), atol=1e-4)


@pytest.mark.parametrize("options", [{}, {"schedule": "cosine", "ema_decay": 0.9}], ids=["plateau", "cosine-ema"])
def test_short_training_run_writes_a_loadable_manifest(genre_build, tmp_path, options):
    from zoo.training import genre as train_genre

    data, _ = genre_build
    config = training_config("genre-cnn", ["train.epochs=2", "train.batch_size=4", "train.verbose=0"] +
                             [f"train.{k}={json.dumps(v)}" for k, v in options.items()])
    summary = train_genre.train(data, tmp_path / "run", config)
    run = Path(summary["out_dir"])
    for name in ("manifest.json", "genre-cnn.weights.h5", "training_curves.png", "confusion_test.png"):
        assert (run / name).is_file(), name
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["labels"] == list(GENRES) and "test_clip_accuracy" in manifest["metrics"]
    assert manifest["training"]["schedule"] == options.get("schedule", "plateau")
    assert "lr" in (run / "history.csv").read_text().splitlines()[0].split(",")
    loaded = zoo.load("genre-cnn", weights=run)
    assert loaded.manifest.name == "genre-cnn"
    evaluation = json.loads((run / "evaluation.json").read_text())
    wrong = round((1 - evaluation["test"]["clip_accuracy"]) * evaluation["test"]["clips"])
    assert len(evaluation["test"]["errors"]) == wrong


def test_runs_compare_alone_in_pairs_and_by_clip(genre_build, tmp_path):
    from benchmarks import genre_runs
    from zoo.training import genre as train_genre

    data, _ = genre_build
    config = training_config("genre-cnn", ["train.epochs=1", "train.batch_size=4", "train.verbose=0"])
    run = train_genre.train(data, tmp_path / "run", config)["out_dir"]
    r = genre_runs.compare(data, [run, "pretrained"])
    assert set(r["runs"]) == {run, "pretrained"} and list(r["pairs"]) == [f"{run} + pretrained"]
    test_clips = r["runs"][run]["test"]["clips"]
    for clip in r["misread_by_most"]:  # misread by both runs
        assert clip["runs_wrong"] == 2 and clip["true"] in GENRES
    assert 0 <= len(r["misread_by_most"]) <= test_clips
    assert "runs wrong" in genre_runs.markdown(r)


def test_an_unknown_schedule_or_setting_is_refused_before_any_work(genre_build, tmp_path):
    from zoo.training import genre as train_genre

    with pytest.raises(ValueError, match="train.schedule 'step': choose plateau or cosine"):
        train_genre.train(genre_build[0], tmp_path / "run", GenreConfig(train=GenreTrain(schedule="step")))
    with pytest.raises(ValueError, match=r"unknown setting 'train.lerning_rate'; did you mean learning_rate\?"):
        training_config("genre-cnn", ["train.lerning_rate=1e-4"])
    assert not (tmp_path / "run").exists()


def test_cli_genre_json_keeps_going_after_a_bad_file(model, clip, tmp_path):
    weights = tmp_path / "w.h5"
    model.keras_model.save_weights(str(weights))
    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    good.write_bytes(clip)
    bad.write_bytes(b"RIFF garbage")
    scorezoo = Path(sys.executable).with_name("scorezoo")
    result = subprocess.run([str(scorezoo), "genre", str(bad), str(good), "--weights", str(weights), "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["file"] == str(bad) and "error" in lines[0]
    assert lines[1]["file"] == str(good) and lines[1]["genre"] in GENRES


def test_temporal_variant_reads_any_clip_length():
    """The BiGRU variant keeps the mel axis' band position per step and still pools over time."""
    net = zoo.create_model("genre-cnn", temporal_units=8).keras_model
    assert net.get_layer("temporal") is not None
    for frames in (64, audio.num_frames(audio.CLIP_SECONDS)):
        scores = net.predict(np.random.default_rng(0).normal(size=(2, frames, audio.N_MELS)).astype("float32"),
                             verbose=0)
        assert scores.shape == (2, len(GENRES))
        np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)


def test_mixup_blends_clips_and_labels_alike():
    from zoo.training.genre import mixup

    tf.random.set_seed(3)
    x = tf.constant(np.stack([np.full((6, 4), i, np.float32) for i in range(8)]))
    y = tf.one_hot(tf.range(8) % len(GENRES), len(GENRES))
    mixed_x, mixed_y = mixup(1.0)(x, y)
    np.testing.assert_allclose(mixed_y.numpy().sum(-1), 1.0, atol=1e-6)
    assert (mixed_y.numpy().max(-1) >= 0.5 - 1e-6).all()  # each clip keeps the larger share of itself
    # a clip's values and its label move by the same weight: clip i = lam * i + (1 - lam) * j
    lam = mixed_y.numpy()[np.arange(8), np.arange(8) % len(GENRES)]
    assert not np.allclose(mixed_x.numpy(), x.numpy()) and np.all((lam > 0) & (lam <= 1))


def test_cli_evaluate_reports_accuracy_and_misread_clips(model, genre_build, tmp_path):
    from click.testing import CliRunner

    from zoo.cli import main

    weights = tmp_path / "w.h5"
    model.keras_model.save_weights(str(weights))
    result = CliRunner().invoke(main, ["evaluate", "genre-cnn", "--data", str(genre_build[0]), "--split", "train",
                                       "--weights", str(weights)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["clips"] > 0 and 0 <= summary["clip_accuracy"] <= 1
    assert len(summary["errors"]) == round((1 - summary["clip_accuracy"]) * summary["clips"])
    for option in (["--margin", "0.1"], ["--tta"], ["--width-scale", "1.2"], ["--limit", "5"]):  # omr only
        result = CliRunner().invoke(main, ["evaluate", "genre-cnn", "--data", str(genre_build[0]), "--split", "train",
                                           *option])
        assert result.exit_code != 0 and "only score recognition models" in result.output
        assert option[0] in result.output


def test_piece_bootstrap_resamples_whole_pieces():
    from benchmarks.genre import piece_bootstrap

    # 40 pieces of 3 clips each, a piece read all right or all wrong: the sample is 40 pieces, not 120 clips,
    # so the interval is as wide as 40 independent draws give.
    pieces = [f"p{i // 3}" for i in range(120)]
    right = np.array([1.0 if i // 3 % 4 else 0.0 for i in range(120)])
    same = piece_bootstrap({"a": right, "a - a": right - right}, pieces, rounds=500)
    assert same["a - a"] == [0.0, 0.0]
    low, high = same["a"]
    assert low < 0.75 < high and high - low > 0.2  # independent clips would give about 0.15
    always = piece_bootstrap({"b": np.ones(120)}, pieces, rounds=100)
    assert always["b"] == [1.0, 1.0]
