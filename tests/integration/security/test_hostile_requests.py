"""gRPC requests that claim more than they carry, media that claim more than they hold, and more work than the
server's budget: each is refused with a sentence and its status code before anything large is allocated, and the
server goes on answering good requests."""
from __future__ import annotations

import resource
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from benchmarks import hostile
from serving import limits
from serving.client import ServingClient
from tests.integration.security.security_caps import MAX_BATCH, MAX_INFLIGHT_MB, OMR_MAX_BATCH

PNG = "000051652-1_2_1.png"


def _predict(server, model: str, alias: str, proto, timeout: float = 30):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{server.port}"))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs[alias].CopyFrom(proto)
    return stub.Predict(request, timeout=timeout)


def _refused(server, model, alias, proto) -> tuple[grpc.StatusCode, str, float]:
    start = time.perf_counter()
    with pytest.raises(grpc.RpcError) as info:
        _predict(server, model, alias, proto)
    return info.value.code(), info.value.details(), time.perf_counter() - start


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def client(server):
    with ServingClient(f"127.0.0.1:{server.port}", timeout=60) as c:
        yield c


@pytest.mark.parametrize("case, needle", [
    ("one value, shape [50000000]", "holds 50000000 examples"),
    ("one value, shape [2000]", "holds 2000 examples"),
    ("one value, shape [2^40]", "holds 1099511627776 examples"),
    ("shape [-1]", "cannot be negative"),
    ("empty batch, shape [0]", "holds no examples"),
    ("unknown rank", "unknown rank"),
])
def test_a_tensor_claiming_more_than_it_carries_is_refused_at_once(server, client, clip, case, needle):
    peak = _peak_mb()
    code, message, seconds = _refused(server, "genre-cnn", "audio", hostile.tensor_claims(clip)[case])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and needle in message, message
    assert seconds < 5 and _peak_mb() - peak < 100  # nothing was expanded
    assert client.genre([clip])[0]["genre"]


def test_a_claim_within_the_batch_cap_is_checked_against_the_values(server, clip):
    """Within the batch cap, a shape that claims more values than are carried is still refused."""
    code, message, _ = _refused(server, "genre-cnn", "audio", hostile.string_tensor([clip], [MAX_BATCH]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and f"({MAX_BATCH} values) but carries 1" in message


def test_numeric_tensors_must_carry_their_bytes():
    spec = tf.TensorSpec([None, 3], tf.float32)
    good = tf.make_tensor_proto(np.zeros((2, 3), np.float32))
    assert limits.tensor_from_proto("x", good, spec, 4, 1000).shape == (2, 3)
    short = tensor_pb2.TensorProto()
    short.CopyFrom(good)
    short.tensor_content = short.tensor_content[:-4]
    with pytest.raises(limits.RequestError, match=r"24 bytes of float32\) but carries 20 bytes"):
        limits.tensor_from_proto("x", short, spec, 4, 1000)
    listed = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0])
    listed.tensor_shape.dim.add(size=2)
    listed.tensor_shape.dim.add(size=3)
    with pytest.raises(limits.RequestError, match=r"\(6 values\) but carries 1"):
        limits.tensor_from_proto("x", listed, spec, 4, 1000)
    with pytest.raises(limits.RequestError, match="claims 6 values; this server accepts at most 5"):
        limits.tensor_from_proto("x", good, spec, 4, 5)
    with pytest.raises(limits.RequestError, match="float64 is provided"):
        limits.tensor_from_proto("x", tf.make_tensor_proto(np.zeros((2, 3))), spec, 4, 1000)


def test_batches_are_capped_per_model(server, client, clip, primus_fixture):
    code, message, _ = _refused(server, "genre-cnn", "audio", tf.make_tensor_proto([clip] * (MAX_BATCH + 1)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and f"at most {MAX_BATCH} per request" in message
    png = (primus_fixture / PNG).read_bytes()
    code, message, _ = _refused(server, "omr-resnet-bisru", "image", tf.make_tensor_proto([png] * 3))
    assert f"at most {OMR_MAX_BATCH} per request" in message
    assert len(client.recognize([png] * OMR_MAX_BATCH)) == OMR_MAX_BATCH


@pytest.mark.parametrize("data, needle", [
    (hostile.png_bomb(8000, 8000), "image is 8000x8000 px; at most 40,000,000 pixels are accepted"),
    (hostile.png_claiming(20000, 20000), "image is 20000x20000 px; at most 40,000,000 pixels"),
    (hostile.gif(), "not a PNG, JPEG or BMP image"),
])
def test_an_image_is_refused_from_its_header_before_decoding(server, client, primus_fixture, data, needle):
    peak = _peak_mb()
    code, message, seconds = _refused(server, "omr-resnet-bisru", "image", tf.make_tensor_proto([data]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and needle in message, message
    assert seconds < 5 and _peak_mb() - peak < 100  # 8000 × 8000 decoded would take ≥ 1.5 GB
    assert client.recognize([primus_fixture / PNG])[0]["tokens"]


@pytest.mark.parametrize("data, needle", [
    (hostile.wav_claiming_rate(1), "sample rate is 1 Hz; 4000-192000 Hz is accepted"),
    (hostile.wav(1.5, channels=9), "audio has 9 channels; at most 8 are accepted"),
    (hostile.flac_claiming_seconds(36000), "FLAC decoding is not in this graph"),  # the served graph reads WAV
])
def test_audio_headers_outside_the_accepted_ranges_are_refused(server, client, clip, data, needle):
    code, message, _ = _refused(server, "genre-cnn", "audio", tf.make_tensor_proto([data]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and needle in message, message
    assert client.genre([clip])[0]["genre"]


def test_work_over_the_budget_is_refused_with_resource_exhausted(server, client, clip):
    cost = limits.estimate_bytes({"audio": np.array([clip] * MAX_BATCH, dtype=object)})
    assert cost < MAX_INFLIGHT_MB * limits.MiB  # alone, the batch fits
    with server.manager.budget.reserve(MAX_INFLIGHT_MB * limits.MiB - cost // 2):  # another request's share
        code, message, _ = _refused(server, "genre-cnn", "audio", tf.make_tensor_proto([clip] * MAX_BATCH))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "The server is busy" in message
    assert server.manager.budget.used == 0
    assert len(client.genre([clip] * MAX_BATCH)) == MAX_BATCH  # the budget is free again


def test_a_request_larger_than_the_whole_budget_says_so():
    budget = limits.Budget(10 * limits.MiB)
    try:
        with pytest.raises(limits.RequestError, match="more than the server's whole budget"):
            with budget.reserve(11 * limits.MiB):
                pass
        assert budget.used == 0 and budget.in_flight == 0
    finally:
        budget.stop()


def test_cost_estimates_follow_the_media_headers(clip):
    small = limits.estimate_bytes({"image": np.array([hostile.png_bomb(1000, 100)], dtype=object)})
    large = limits.estimate_bytes({"image": np.array([hostile.png_bomb(4000, 2000)], dtype=object)})
    assert large > 10 * small and large > limits.IMAGE_BYTES_PER_PIXEL * 4000 * 2000
    one = limits.estimate_bytes({"audio": np.array([clip], dtype=object)})
    assert limits.estimate_bytes({"audio": np.array([clip] * 4, dtype=object)}) == 4 * one
    assert one >= limits.CLIP_BYTES
