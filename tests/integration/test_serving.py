"""Serving: export, config, the local TF-Serving-compatible server (gRPC + REST), the client and its CLI.

One in-process server on 127.0.0.1 (free ports) serves a real exported genre-cnn and omr-resnet-bisru
(both with their shipped weights); the hot-reload test runs last because it retires version 1.
"""
from __future__ import annotations

import base64
import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import portpicker
import pytest
import tensorflow as tf
from click.testing import CliRunner
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

import zoo
from serving import config as config_lib
from serving.client import ServingClient, ServingError
from serving.export import ExportError, existing_versions, export
from serving.server import ModelServer
from zoo.cli.serving import client as client_cli
from zoo.cli.serving import export_cmd
from zoo.datasets import tfrecords

MAX_MESSAGE = 4 * 1024 * 1024  # gRPC cap of the test server
MAX_INPUT = 2 * 1024 * 1024  # input-tensor cap of the test server
PNG_NAME = "000051652-1_2_1.png"

TEST_CONFIG = """
model_config_list {
  config { name: "genre-cnn" base_path: "/models/genre-cnn" model_platform: "tensorflow"
           model_version_policy { latest { num_versions: 1 } } }
  config { name: "omr-resnet-bisru" base_path: "/models/omr-resnet-bisru" model_platform: "tensorflow" }
  config { name: "empty" base_path: "/models/empty" model_platform: "tensorflow" }
}
"""


@pytest.fixture(scope="module")
def genre_model():
    return zoo.load("genre-cnn")


@pytest.fixture(scope="module")
def clips(genre_build):
    out_dir, _ = genre_build
    return [bytes(ex["audio"]) for ex, _ in zip(tfrecords.iter_examples(out_dir, "test", "genre"), range(2))]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, exported_models):
    root = tmp_path_factory.mktemp("models")
    shutil.copytree(exported_models, root, dirs_exist_ok=True)
    return root


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory):
    cfg = tmp_path_factory.mktemp("cfg") / "models.config"
    cfg.write_text(TEST_CONFIG)
    srv = ModelServer.from_config(cfg, model_base=models_dir, port=portpicker.pick_unused_port(),
                                  rest_port=portpicker.pick_unused_port(), poll_seconds=0.5,
                                  max_message_bytes=MAX_MESSAGE, max_input_bytes=MAX_INPUT).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with ServingClient(f"127.0.0.1:{server.port}", timeout=60) as c:
        yield c


# ------------------------------------------------------------------------------------------------ export + config
def test_export_layout_and_no_overwrite(models_dir, genre_model, tmp_path):
    result = CliRunner().invoke(export_cmd, ["genre-cnn", "--out", str(tmp_path)])  # shipped weights
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "genre-cnn" / "1")
    assert existing_versions(models_dir / "genre-cnn") == [1]
    assert (models_dir / "genre-cnn" / "1" / "saved_model.pb").is_file()
    loaded = tf.saved_model.load(str(models_dir / "genre-cnn" / "1"))
    assert set(loaded.signatures) == {"serving_default"}
    with pytest.raises(ExportError, match="already exists"):
        export("genre-cnn", models_dir, version=1, model=genre_model)
    assert not [p for p in (models_dir / "genre-cnn").iterdir() if p.name.startswith(".")]  # no temp folders left


@pytest.fixture
def unshipped_model():
    """A registered model with no shipped weights (the omr architecture under another name)."""
    from zoo.models import omr

    name = "omr-test-unshipped"
    zoo.register_model(name, task="score-recognition", input_spec=omr.INPUT_SPEC)(
        omr._builder(name, "plain", "lstm", False))
    yield name
    zoo.registry.unregister_model(name)


def test_export_untrained_needs_explicit_weights(tmp_path, unshipped_model):
    with pytest.raises(zoo.pretrained.WeightsError):
        export(unshipped_model, tmp_path)  # no shipped weights: refuses instead of exporting noise
    assert not (tmp_path / unshipped_model).exists() or not existing_versions(tmp_path / unshipped_model)


def test_export_cli_errors(tmp_path, unshipped_model):
    result = CliRunner().invoke(export_cmd, ["genre-cnnn", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "Unknown model 'genre-cnnn'" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(export_cmd, [unshipped_model, "--out", str(tmp_path)])
    assert result.exit_code == 1 and "No pretrained weights ship" in result.output
    for args in ([], ["genre-cnn", "--all"], ["--all", "--weights", "none"]):
        result = CliRunner().invoke(export_cmd, [*args, "--out", str(tmp_path)])
        assert result.exit_code == 2 and ("MODEL_NAME" in result.output or "--weights" in result.output), args


def test_deploy_files_agree_with_config():
    yaml = pytest.importorskip("yaml")
    root = Path(__file__).resolve().parents[2]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]["tf-serving"]
    assert compose["image"] == "tensorflow/serving:2.16.1"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["volumes"]}
    args = dict(a.lstrip("-").split("=", 1) if "=" in a else (a.lstrip("-"), "") for a in compose["command"])
    assert mounts["/models"] == "./serving/models" and "enable_batching" in args
    health = compose["healthcheck"]["test"]  # every model AVAILABLE, names read from the mounted config
    assert health[:3] == ["CMD", "bash", "-c"] and "/config/models.config" in health[3] and '"AVAILABLE"' in health[3]
    for flag in ("model_config_file", "batching_parameters_file"):
        assert mounts[args[flag]] in ("./serving/models.config", "./serving/batching.config")
    docs = {d["kind"]: d for f in sorted((root / "deploy" / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(
        f.read_text())}
    assert set(docs) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    probe = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
    assert probe[:2] == ["bash", "-c"] and "/config/models.config" in probe[2] and '"AVAILABLE"' in probe[2]
    assert docs["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_models_config_in_sync_with_zoo():
    entries = config_lib.load(config_lib.DEFAULT_CONFIG)
    names = [e.name for e in entries]
    registered = set(zoo.list_models())
    assert set(zoo.list_models(pretrained=True)) <= set(names), "every model with shipped weights is served"
    assert set(names) <= registered, f"unregistered models in models.config: {set(names) - registered}"
    for e in entries:
        assert e.base_path == Path("/models") / e.name
    mapped = config_lib.load(config_lib.DEFAULT_CONFIG, model_base="/tmp/x")
    assert mapped[0].base_path == Path("/tmp/x") / mapped[0].name


def test_config_paths_and_policies(tmp_path):
    (tmp_path / "c.config").write_text("""model_config_list {
      config { name: "a" base_path: "rel/a" model_platform: "tensorflow" model_version_policy { all {} } }
      config { name: "b" base_path: "/abs/b" model_version_policy { specific { versions: 2 versions: 5 } } }
      config { name: "c" base_path: "/models/c" model_version_policy { latest { num_versions: 2 } } } }""")
    a, b, c = config_lib.load(tmp_path / "c.config")
    assert a.base_path == tmp_path / "rel" / "a" and b.base_path == Path("/abs/b")
    assert a.policy.select([3, 1, 2]) == [1, 2, 3]
    assert b.policy.select([1, 2, 3, 5]) == [2, 5]
    assert c.policy.select([1, 2, 3]) == [2, 3]
    (tmp_path / "bad.config").write_text("model_config_list { config { nam: 1 } }")
    with pytest.raises(config_lib.ConfigError, match="bad.config"):
        config_lib.load(tmp_path / "bad.config")


# ------------------------------------------------------------------------------------------------ gRPC: good requests
def test_predict_genre_matches_zoo(client, clips, genre_model):
    out = client.predict("genre-cnn", {"audio": clips})
    assert out["model_version"] == 1 and out["scores"].shape == (len(clips), 5)
    for clip, row, genre in zip(clips, out["scores"], out["genre"]):
        expected = genre_model.predict_scores(clip)
        np.testing.assert_allclose(row, expected, atol=1e-4)
        assert genre.decode() == genre_model.labels[int(expected.argmax())]
    results = client.genre(clips)
    assert [r["genre"] for r in results] == [g.decode() for g in out["genre"]]
    assert set(results[0]["scores"]) == set(genre_model.labels)


def test_predict_png_omr_matches_the_local_model(client, primus_fixture):
    png = (primus_fixture / PNG_NAME).read_bytes()
    out = client.predict("omr-resnet-bisru", {"image": [png]})
    assert out["tokens"].ndim == 2 and out["lengths"].shape == (1,) and out["confidence"].shape == (1,)
    result = client.recognize([primus_fixture / PNG_NAME])[0]
    assert len(result["tokens"]) == int(out["lengths"][0]) and 0 <= result["confidence"] <= 1
    local = zoo.load("omr-resnet-bisru").predict(png)  # greedy CTC in Python vs tf.nn.ctc_greedy_decoder in the graph
    assert result["tokens"] == local["tokens"]


def test_output_filter(client, clips):
    out = client.predict("genre-cnn", {"audio": clips[:1]}, output_filter=["genre"])
    assert set(out) == {"genre", "model_version"}


def test_metadata_and_status(client):
    meta = client.metadata("genre-cnn")
    assert meta["model_spec"] == {"name": "genre-cnn", "version": 1}
    sig = meta["signature_def"]["serving_default"]
    assert set(sig["inputs"]) == {"audio"} and set(sig["outputs"]) == {"genre", "scores"}
    assert sig["inputs"]["audio"]["dtype"] == "DT_STRING"
    assert sig["methodName"] == "tensorflow/serving/predict"
    assert client.status("genre-cnn") == [{"version": 1, "state": "AVAILABLE", "error": ""}]
    assert client.status("omr-resnet-bisru", version=1)[0]["state"] == "AVAILABLE"


# ------------------------------------------------------------------------------------------------ gRPC: bad requests
def _raw_predict(server, name="genre-cnn", inputs=None, version=None, signature="", timeout=30):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{server.port}"))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for key, proto in (inputs or {}).items():
        request.inputs[key].CopyFrom(proto)
    return stub.Predict(request, timeout=timeout)


def _bad_cases(clip):
    s = tf.make_tensor_proto
    corrupt = bytearray(clip)
    corrupt[:4] = b"JUNK"
    return {
        "unknown model": (dict(name="no-such-model", inputs={"audio": s([clip])}), grpc.StatusCode.NOT_FOUND),
        "unknown version": (dict(version=99, inputs={"audio": s([clip])}), grpc.StatusCode.NOT_FOUND),
        "no loaded version": (dict(name="empty", inputs={"audio": s([clip])}), grpc.StatusCode.NOT_FOUND),
        "unknown signature": (dict(signature="nope", inputs={"audio": s([clip])}), grpc.StatusCode.INVALID_ARGUMENT),
        "wrong input name": (dict(inputs={"wav": s([clip])}), grpc.StatusCode.INVALID_ARGUMENT),
        "missing input": (dict(inputs={}), grpc.StatusCode.INVALID_ARGUMENT),
        "wrong dtype": (dict(inputs={"audio": s(np.zeros(3, np.float32))}), grpc.StatusCode.INVALID_ARGUMENT),
        "wrong rank": (dict(inputs={"audio": s(np.array([[clip]], dtype=object))}), grpc.StatusCode.INVALID_ARGUMENT),
        "corrupt WAV": (dict(inputs={"audio": s([bytes(corrupt)])}), grpc.StatusCode.INVALID_ARGUMENT),
        "truncated WAV": (dict(inputs={"audio": s([clip[:100]])}), grpc.StatusCode.INVALID_ARGUMENT),
        "empty bytes": (dict(inputs={"audio": s([b""])}), grpc.StatusCode.INVALID_ARGUMENT),
        "input over the server's cap": (dict(inputs={"audio": s([b"\0" * (MAX_INPUT + 1000)])}),
                                        grpc.StatusCode.INVALID_ARGUMENT),
        "message over gRPC max size": (dict(inputs={"audio": s([b"\0" * (MAX_MESSAGE + 1000)])}),
                                       grpc.StatusCode.RESOURCE_EXHAUSTED),
        "corrupt tensor proto": (dict(inputs={"audio": tf.make_tensor_proto(np.zeros(4, np.float32))}),
                                 grpc.StatusCode.INVALID_ARGUMENT),
    }


def test_bad_requests_exact_codes_and_server_survives(server, client, clips):
    cases = _bad_cases(clips[0])
    cases["corrupt tensor proto"][0]["inputs"]["audio"].dtype = tf.string.as_datatype_enum  # float bytes as strings
    observed = {}
    for label, (kwargs, code) in cases.items():
        with pytest.raises(grpc.RpcError) as info:
            _raw_predict(server, **kwargs)
        observed[label] = (info.value.code(), info.value.details())
        assert info.value.code() == code, f"{label}: {info.value.code()} {info.value.details()}"
        assert client.genre(clips[:1])[0]["genre"]  # still serving good requests
    print("\n".join(f"{k}: {c.name}: {m}" for k, (c, m) in observed.items()))
    assert "not a WAV" in observed["corrupt WAV"][1]
    assert "empty" in observed["empty bytes"][1]
    assert "input tensor alias not found" in observed["wrong input name"][1]
    assert "signature name" in observed["unknown signature"][1]


def test_client_raises_server_code(client):
    with pytest.raises(ServingError) as info:
        client.status("no-such-model")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(ServingError) as info:
        client.genre([b"not audio at all"])
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and "WAV" in info.value.message


def test_metadata_and_classify_errors(server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{server.port}"))
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["nope"])
    request.model_spec.name = "genre-cnn"
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelMetadata(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "genre-cnn"
    with pytest.raises(grpc.RpcError) as info:
        stub.Classify(classify, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # predict signature: TF Serving's own answer
    assert "classification signature" in info.value.details()


def test_status_codes(client):
    for model, version in [("no-such-model", None), ("genre-cnn", 99), ("empty", None)]:
        with pytest.raises(ServingError) as info:
            client.status(model, version)
        assert info.value.code == grpc.StatusCode.NOT_FOUND


# ------------------------------------------------------------------------------------------------ REST
def _rest(server, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=data)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_rest_predict_and_status(server, clips, genre_model):
    b64 = base64.b64encode(clips[0]).decode()
    code, body = _rest(server, "/v1/models/genre-cnn:predict", {"instances": [{"b64": b64}]})
    assert code == 200, body
    np.testing.assert_allclose(body["predictions"][0]["scores"], genre_model.predict_scores(clips[0]), atol=1e-4)
    code, body = _rest(server, "/v1/models/genre-cnn/versions/1:predict", {"inputs": {"audio": [{"b64": b64}]}})
    assert code == 200 and len(body["outputs"]["scores"]) == 1
    code, body = _rest(server, "/v1/models/genre-cnn")
    assert code == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"
    code, body = _rest(server, "/v1/models/genre-cnn/metadata")
    assert code == 200 and "serving_default" in body["metadata"]["signature_def"]["signatureDef"]
    assert _rest(server, "/v1/models/nope:predict", {"instances": [{"b64": b64}]})[0] == 404
    code, body = _rest(server, "/v1/models/genre-cnn:predict", {"instances": [{"b64": "AAAA"}]})
    assert code == 400 and "WAV" in body["error"]
    assert _rest(server, "/v1/models/genre-cnn:predict", {"instances": [1.5]})[0] == 400


# ------------------------------------------------------------------------------------------------ client CLI
def test_client_cli_json(server, clips, tmp_path):
    good, bad = tmp_path / "clip.wav", tmp_path / "bad.wav"
    good.write_bytes(clips[0])
    bad.write_bytes(b"RIFF nonsense")
    result = CliRunner().invoke(client_cli, ["genre", str(good), str(bad), "--server", f"127.0.0.1:{server.port}",
                                             "--json"])
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.output.strip().splitlines()]
    assert lines[0]["file"] == str(good) and lines[0]["genre"] in lines[0]["scores"]
    assert lines[1]["file"] == str(bad) and "INVALID_ARGUMENT" in lines[1]["error"]


# ------------------------------------------------------------------------------------------------ serve CLI
def test_serve_cli_subprocess_with_repo_config(models_dir, clips):
    """`scorezoo serve` on the repo's models.config, /models mapped to the test models folder; SIGTERM stops it."""
    import os
    import subprocess
    import sys

    port, rest = portpicker.pick_unused_port(), portpicker.pick_unused_port()
    code = "import sys; from zoo.cli.serving import serve_cmd; serve_cmd(sys.argv[1:])"
    proc = subprocess.Popen([sys.executable, "-c", code, "--model-config", str(config_lib.DEFAULT_CONFIG),
                             "--model-base", str(models_dir), "--port", str(port), "--rest-port", str(rest),
                             "--poll-seconds", "0"], env={**os.environ, "TF_USE_LEGACY_KERAS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with ServingClient(f"127.0.0.1:{port}", timeout=10) as c:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, proc.stderr.read()
                try:
                    assert c.status("genre-cnn")[0]["state"] == "AVAILABLE"
                    break
                except ServingError:
                    assert time.monotonic() < deadline, "server did not become ready"
                    time.sleep(0.5)
            assert c.genre(clips[:1])[0]["genre"]
            with urllib.request.urlopen(f"http://127.0.0.1:{rest}/v1/models/genre-cnn", timeout=10) as r:
                assert json.loads(r.read())["model_version_status"][0]["state"] == "AVAILABLE"
    finally:
        proc.terminate()
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, proc.stderr.read()


# ------------------------------------------------------------------------------------------------ hot reload (last)
def test_hot_reload_new_version_unloads_old(server, client, models_dir, genre_model, clips):
    path = export("genre-cnn", models_dir, model=genre_model)  # version 2 while the server runs
    assert path.name == "2"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = {s["version"]: s["state"] for s in client.status("genre-cnn")}
        if states.get(2) == "AVAILABLE" and states.get(1) == "END":
            break
        time.sleep(0.25)
    assert states == {2: "AVAILABLE", 1: "END"}
    assert client.genre(clips[:1])[0]["model_version"] == 2
    with pytest.raises(ServingError) as info:
        client.predict("genre-cnn", {"audio": clips[:1]}, version=1)
    assert info.value.code == grpc.StatusCode.NOT_FOUND


def test_models_json_lists_the_exported_signatures(exported_models):
    from zoo.cli import models_cmd

    result = CliRunner().invoke(models_cmd, ["--json", "--served-dir", str(exported_models)])
    assert result.exit_code == 0, result.output
    served = {m["name"]: m["served"] for m in json.loads(result.output)}
    omr = served["omr-resnet-bisru"]["signatures"]["serving_default"]
    assert omr["inputs"] == {"image": {"dtype": "string", "shape": [-1]}}
    assert set(omr["outputs"]) == {"tokens", "lengths", "confidence", "token_confidences"}
    assert set(served["retrieval-gcn"]["signatures"]) >= {"serving_default", "embed_audio", "embed_sheet"}
    assert served["gen-lstm"] is None  # not exported into that folder
