"""What the library answers, the served model answers: the library, the exported SavedModel and the running server
give the same genres and scores (long recordings included), the same tokens and confidences (pages of several
staves included), and the same retrieval vectors and matches, on the same inputs."""
from __future__ import annotations

import io

import numpy as np
import portpicker
import pytest
import soundfile as sf
import tensorflow as tf

import zoo
from serving import config as config_lib
from serving.client import ServingClient
from serving.server import ModelServer
from zoo.datasets import tfrecords
from zoo.preprocessing import audio

PNG = "000051652-1_2_1.png"


@pytest.fixture(scope="module")
def served(exported_models):
    entries = [config_lib.ModelEntry(name, exported_models / name)
               for name in ("genre-cnn", "omr-resnet-bisru", "retrieval-gcn")]
    server = ModelServer(entries, port=portpicker.pick_unused_port(), poll_seconds=0).start()
    with ServingClient(f"127.0.0.1:{server.port}", timeout=120) as client:
        yield client
    server.stop()


@pytest.fixture(scope="module")
def recordings(genre_build) -> dict[str, bytes]:
    """A real 10-s test clip; three joined (30 s; the tiny build's test split may hold fewer clips: then one
    repeats), and cut to 25.5 s; the 25.5 s at 44.1 kHz stereo."""
    out_dir, _ = genre_build
    clips = [bytes(ex["audio"]) for ex, _ in zip(tfrecords.iter_examples(out_dir, "test", "genre"), range(3))]
    samples = [sf.read(io.BytesIO(c), dtype="float32")[0] for c in clips]
    joined = np.concatenate([samples[i % len(samples)] for i in range(3)])
    assert len(joined) >= 30 * audio.SAMPLE_RATE
    cut = joined[: int(25.5 * audio.SAMPLE_RATE)]
    stereo = np.stack([cut, 0.5 * cut], axis=1)
    upsampled = audio.resample(tf.constant(stereo.T), audio.SAMPLE_RATE, 44100).numpy().T
    return {"10 s": clips[0], "30 s": audio.wav_bytes(joined, audio.SAMPLE_RATE),
            "25.5 s": audio.wav_bytes(cut, audio.SAMPLE_RATE),
            "25.5 s, 44.1 kHz stereo": audio.wav_bytes(upsampled, 44100)}


def test_genre_scores_are_the_same_in_the_library_the_saved_model_and_the_server(recordings, exported_models, served):
    model = zoo.load("genre-cnn")
    names = list(recordings)
    library = np.stack([model.predict_scores(recordings[n]) for n in names])
    saved = tf.saved_model.load(str(exported_models / "genre-cnn" / "1")).signatures["serving_default"]
    exported = saved(audio=tf.constant([recordings[n] for n in names]))
    server = served.predict("genre-cnn", {"audio": [recordings[n] for n in names]})
    for i, name in enumerate(names):
        np.testing.assert_allclose(exported["scores"].numpy()[i], library[i], atol=1e-5, err_msg=name)
        np.testing.assert_allclose(server["scores"][i], library[i], atol=1e-5, err_msg=name)
        genre = model.labels[int(library[i].argmax())]
        assert exported["genre"].numpy()[i].decode() == server["genre"][i].decode() == genre, name
    # a long recording is the mean of its windows, not its first or middle 10 seconds
    windows = model.keras_model.predict_on_batch(model.preprocess(recordings["30 s"]))
    assert windows.shape[0] == 3
    np.testing.assert_allclose(library[names.index("30 s")], windows.mean(axis=0), atol=1e-5)


def test_recognized_tokens_are_the_same_in_the_library_the_saved_model_and_the_server(
        primus_fixture, staff_build, exported_models, served):
    out_dir, _ = staff_build
    images = [(primus_fixture / PNG).read_bytes()] + [
        bytes(ex["image"]) for ex, _ in zip(tfrecords.iter_examples(out_dir, "test", "staff"), range(3))]
    model = zoo.load("omr-resnet-bisru")
    # a batch is padded to its widest staff, which moves the network's outputs near the right edge a little: the
    # library reads the same batch the SavedModel and the server are sent, and each image alone as one request
    library = model.recognize_staves([model.preprocess(image) for image in images])
    saved = tf.saved_model.load(str(exported_models / "omr-resnet-bisru" / "1")).signatures["serving_default"]
    exported = saved(image=tf.constant(images))
    server = served.recognize(images)
    for image in images[:2]:
        alone, expected = served.recognize([image])[0], model.predict(image)
        assert alone["tokens"] == expected["tokens"]
        assert alone["confidence"] == pytest.approx(expected["confidence"], abs=1e-5)
    for i, expected in enumerate(library):
        length = int(exported["lengths"].numpy()[i])
        assert [t.decode() for t in exported["tokens"].numpy()[i][:length]] == expected["tokens"]
        assert server[i]["tokens"] == expected["tokens"]
        # one definition of confidence: per token, and the staff's geometric mean of them
        for confidences in (exported["token_confidences"].numpy()[i][:length], server[i]["token_confidences"]):
            np.testing.assert_allclose(confidences, expected["token_confidences"], atol=1e-4)
        for confidence in (exported["confidence"].numpy()[i], server[i]["confidence"]):
            assert confidence == pytest.approx(expected["confidence"], abs=1e-5)
    assert 0 < min(r["confidence"] for r in library) <= max(r["confidence"] for r in library) <= 1


def test_a_page_of_staves_reads_the_same_in_the_library_and_through_the_server(primus_fixture, served):
    """A page is split into staves the same way by the library and the client, then read as one batch."""
    from PIL import Image

    staff = np.asarray(Image.open(primus_fixture / PNG).convert("L"))
    page = np.full((3 * staff.shape[0] + 120, staff.shape[1] + 40), 255, np.uint8)
    for k in range(3):
        top = 20 + k * (staff.shape[0] + 40)
        page[top: top + staff.shape[0], 20: 20 + staff.shape[1] - 60 * k] = staff[:, : staff.shape[1] - 60 * k]
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")
    library = zoo.load("omr-resnet-bisru").recognize_page(buffer.getvalue())
    server = served.recognize_page(buffer.getvalue())
    assert len(library) == len(server) == 3
    for ours, theirs in zip(library, server):
        assert theirs["tokens"] == ours["tokens"]
        assert theirs["confidence"] == pytest.approx(ours["confidence"], abs=1e-5)
        np.testing.assert_allclose(theirs["token_confidences"], ours["token_confidences"], atol=1e-4)
    assert library[0]["tokens"] != library[2]["tokens"]  # three different staves: the last cut shorter


def test_retrieval_vectors_and_matches_are_the_same_in_the_library_and_through_the_server(
        recordings, primus_fixture, served, tmp_path):
    from zoo.search import index as search_index
    from zoo.search import sources, windows

    model = zoo.load("retrieval-gcn")
    clip = recordings["25.5 s, 44.1 kHz stereo"]
    library = model.embed_array("audio", windows.recording_windows(*sources.recording(clip)).inputs)
    over_grpc = served.embed_audio([clip])[0]
    np.testing.assert_allclose(over_grpc["vectors"], library, atol=1e-4)
    assert over_grpc["seconds"][0] == 1.0 and len(over_grpc["seconds"]) == len(library)
    page = primus_fixture / PNG
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "fixture.png").write_bytes(page.read_bytes())
    search_index.build([tmp_path / "scores" / "fixture.png"], tmp_path / "index", model)
    index = search_index.Index.open(tmp_path / "index")
    query = tmp_path / "clip.wav"
    query.write_bytes(clip)
    assert served.search(tmp_path / "index", query, top=1) == search_index.search(index, model, query, top=1)
