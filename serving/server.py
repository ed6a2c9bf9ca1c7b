"""A local model server speaking TF Serving's gRPC API (PredictionService, ModelService) and its REST API.

It serves the same SavedModel folders as the ``tensorflow/serving`` image (``<base_path>/<numeric version>/``), from
the same ``models.config``, so clients and tests run unchanged against either. A poller thread applies each model's
version policy (latest N, all, specific): it loads a newly pushed version once its folder has stopped changing,
retries a version whose load failed when its folder changes again, and unloads the others once a wanted version is
available. Every request is checked and its cost reserved before it runs (``serving.limits``); status codes
follow TF Serving (see README, "Serving"), and the server keeps serving after every bad request.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving import config as config_lib
from serving import defaults
from serving import limits as limits_lib
from serving import rest as rest_lib
from serving.limits import Budget, Limits, invalid
from serving.limits import RequestError as ServingError

log = logging.getLogger("scorezoo.serving")

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
MAX_MESSAGE_BYTES = defaults.MAX_MESSAGE_MB << 20  # gRPC receive/send cap: larger requests fail with RESOURCE_EXHAUSTED
MAX_INPUT_BYTES = MAX_MESSAGE_BYTES // 2  # cap on a request's input tensors: larger ones fail with INVALID_ARGUMENT
SETTLE_SECONDS = 1.0  # a version folder is loaded once nothing in it has changed for this long
State = get_model_status_pb2.ModelVersionStatus.State

# tf.errors codes are the gRPC status codes' numbers
_GRPC_CODES = {c.value[0]: c for c in grpc.StatusCode}


def tf_error_message(exc: tf.errors.OpError) -> str:
    """The useful sentence of a TF runtime error (an ``assertion failed: [...]`` line if there is one)."""
    lines = [ln.strip() for ln in str(exc.message).splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("assertion failed:"):
            return ln[len("assertion failed:"):].strip().strip("[]").strip() or ln
    useful = [ln for ln in lines if not ln.startswith(("[[", "Detected at node", "<stack", "Graph execution error"))
              and "[Op:" not in ln]
    return useful[0] if useful else str(exc.message)


@dataclass
class Servable:
    """One loaded version of one model."""

    name: str
    version: int
    path: Path
    loaded: Any
    signature_defs: Any  # meta_graph_pb2 map<string, SignatureDef>

    def signature(self, name: str) -> tuple[Any, Any]:
        name = name or DEFAULT_SIGNATURE
        if name not in self.loaded.signatures:
            raise invalid(f'Serving signature name: "{name}" not found in signature def')
        return self.loaded.signatures[name], self.signature_defs[name]


def load_servable(name: str, version: int, path: Path) -> Servable:
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    loaded = tf.saved_model.load(str(path))
    return Servable(name, version, path, loaded, proto.meta_graphs[0].signature_def)


@dataclass
class _Model:
    entry: config_lib.ModelEntry
    servables: dict[int, Servable] = field(default_factory=dict)
    states: dict[int, tuple[int, str]] = field(default_factory=dict)  # version → (State, error message)
    failed: dict[int, tuple] = field(default_factory=dict)  # version → folder fingerprint its load failed on


def _version_dirs(base: Path) -> list[int]:
    """Numeric version folders holding a SavedModel (complete or still arriving: see :func:`_fingerprint`)."""
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir()
                  if p.name.isdigit() and ((p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file()))


def _fingerprint(folder: Path) -> tuple[tuple, float]:
    """Every file's (path, size, mtime) and the newest change time (ctime, which a copy cannot back-date)."""
    entries, newest = [], 0.0
    for root, _, files in os.walk(folder):
        for name in [""] + files:
            try:
                st = os.stat(os.path.join(root, name)) if name else os.stat(root)
            except OSError:  # removed while we looked: the folder is still changing
                return (), time.time()
            newest = max(newest, st.st_ctime)
            if name:
                entries.append((os.path.relpath(os.path.join(root, name), folder), st.st_size, st.st_mtime_ns))
    return tuple(sorted(entries)), newest


class ModelManager:
    """Loads, serves and unloads model versions according to each model's version policy.

    A version folder copied into place file by file (not renamed in atomically, as ``scorezoo export`` and
    Pusher do) is loaded only once nothing in it has changed for ``settle_seconds``; a version whose load failed
    is tried again when its folder changes, as TF Serving does.
    """

    def __init__(self, entries: list[config_lib.ModelEntry], limits: Limits | None = None,
                 budget: Budget | None = None, settle_seconds: float = SETTLE_SECONDS):
        self.models = {e.name: _Model(e) for e in entries}
        self.limits = limits or Limits()
        self.budget = budget or Budget(limits_lib.DEFAULT_MAX_INFLIGHT_MB * limits_lib.MiB)
        self.settle_seconds = settle_seconds
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def max_input_bytes(self) -> int:
        return self.limits.max_input_bytes

    # ---------------------------------------------------------------------------------------------- lifecycle
    def poll_once(self) -> bool:
        """One pass over every model; True when some wanted version is still settling."""
        waiting = False
        for model in self.models.values():
            try:
                waiting |= self._sync(model)
            except Exception:  # noqa: BLE001 - one broken model folder must not stop the poller
                log.exception("Polling %s failed", model.entry.base_path)
        return waiting

    def _sync(self, model: _Model) -> bool:
        name, base = model.entry.name, model.entry.base_path
        available = _version_dirs(base)
        wanted = model.entry.policy.select(available)
        waiting = False
        for version in wanted:
            if version in model.servables:
                continue
            fingerprint, newest = _fingerprint(base / str(version))
            if model.failed.get(version) == fingerprint:
                continue  # failed on exactly these files: wait for the folder to change
            if not fingerprint or time.time() - newest < self.settle_seconds:
                waiting = True
                with self._lock:
                    model.states.setdefault(version, (State.START, ""))
                continue  # still being copied in
            with self._lock:
                model.states[version] = (State.LOADING, "")
            t = time.perf_counter()
            try:
                servable = load_servable(name, version, base / str(version))
            except Exception as exc:  # noqa: BLE001 - a bad SavedModel is reported in the status, not raised
                log.error("Loading %s version %d failed (retried when its folder changes): %s", name, version, exc)
                with self._lock:
                    model.failed[version] = fingerprint
                    model.states[version] = (State.END, f"Loading failed: {exc}")
                continue
            with self._lock:
                model.failed.pop(version, None)
                model.servables[version] = servable
                model.states[version] = (State.AVAILABLE, "")
            log.info("Loaded %s version %d in %.1f s", name, version, time.perf_counter() - t)
        with self._lock:
            for version in [v for v in model.states if v not in available and v not in model.servables]:
                model.failed.pop(version, None)  # a folder taken away: forget its failure and wait
                if model.states[version][0] == State.START:
                    del model.states[version]
            if not any(v in model.servables for v in wanted) and available:
                return waiting  # availability first: keep serving the old versions until a wanted one loads
            for version in [v for v in model.servables if v not in wanted]:
                model.states[version] = (State.UNLOADING, "")
                del model.servables[version]  # in-flight requests keep their reference until they finish
                model.states[version] = (State.END, "")
                log.info("Unloaded %s version %d", name, version)
        return waiting

    def start(self, poll_seconds: float = 2.0) -> None:
        """Load what the policies want now (blocking, like TF Serving's start-up), then keep polling."""
        deadline = time.monotonic() + 3 * self.settle_seconds + 5
        while self.poll_once() and time.monotonic() < deadline:
            time.sleep(min(0.2, self.settle_seconds))
        if poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll_loop, args=(poll_seconds,), name="model-poller",
                                            daemon=True)
            self._thread.start()

    def _poll_loop(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self.poll_once()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.budget.stop()

    # ---------------------------------------------------------------------------------------------- lookups
    def _model(self, name: str) -> _Model:
        if name not in self.models:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
        return self.models[name]

    def get(self, name: str, version: int | None = None, label: str = "") -> Servable:
        model = self._model(name)
        with self._lock:
            if label:
                if label not in model.entry.labels:
                    raise invalid(f"Unrecognized servable version label: {label}")
                version = model.entry.labels[label]
            if version is not None:
                if version not in model.servables:
                    raise ServingError(grpc.StatusCode.NOT_FOUND,
                                       f"Servable not found for request: Specific({name}, {version})")
                return model.servables[version]
            if not model.servables:
                raise ServingError(grpc.StatusCode.NOT_FOUND,  # as TF Serving: the servable does not exist yet
                                   f"Servable not found for request: Latest({name}) (no version loaded from "
                                   f"{model.entry.base_path} yet)")
            return model.servables[max(model.servables)]

    def status(self, name: str, version: int | None = None) -> list[tuple[int, int, str]]:
        """``[(version, State, error message)]``, newest first."""
        model = self._model(name)
        with self._lock:
            states = dict(model.states)
        if not states:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        if version is not None:
            if version not in states:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}")
            states = {version: states[version]}
        return [(v, *states[v]) for v in sorted(states, reverse=True)]

    # ---------------------------------------------------------------------------------------------- inference
    def predict(self, name: str, version: int | None, label: str, signature_name: str,
                inputs: dict[str, Any], output_filter: list[str] | tuple[str, ...] = ()
                ) -> tuple[Servable, str, dict[str, np.ndarray]]:
        """Run a signature. ``inputs`` values are TensorProtos (gRPC) or numpy arrays (REST)."""
        servable = self.get(name, version, label)
        signature_name = signature_name or DEFAULT_SIGNATURE
        fn, sig_def = servable.signature(signature_name)
        if sig_def.method_name and sig_def.method_name != PREDICT_METHOD:
            raise invalid(f"Expected prediction signature method_name to be {PREDICT_METHOD}. "
                           f"Was: {sig_def.method_name}")
        specs = fn.structured_input_signature[1]
        expected = "{" + ",".join(sorted(specs)) + "}"
        for alias in inputs:
            if alias not in specs:
                raise invalid(f"input tensor alias not found in signature: {alias}. "
                               f"Inputs expected to be in the set {expected}.")
        missing = sorted(set(specs) - set(inputs))
        if missing:
            raise invalid(f"Missing input tensor alias(es): {', '.join(missing)}. "
                           f"Inputs expected to be in the set {expected}.")
        size = sum(v.ByteSize() if hasattr(v, "ByteSize") else _nbytes(v) for v in inputs.values())
        if size > self.max_input_bytes:
            raise invalid(f"Request inputs are {size} bytes; this server accepts at most {self.max_input_bytes}.")
        outputs = list(fn.structured_outputs)
        for alias in output_filter:
            if alias not in outputs:
                raise invalid(f"output tensor alias not found in signature: {alias} Outputs expected to be in "
                               "the set {" + ",".join(sorted(outputs)) + "}.")
        keys = list(dict.fromkeys(output_filter)) or outputs
        max_batch = self.limits.batch_cap(servable.name)
        arrays = {alias: _to_array(alias, value, specs[alias], max_batch, self.max_input_bytes)
                  for alias, value in inputs.items()}
        with self.budget.reserve(limits_lib.estimate_bytes(arrays)):
            tensors = {alias: _to_tensor(alias, array, specs[alias]) for alias, array in arrays.items()}
            try:
                result = fn(**tensors)
                return servable, signature_name, {k: result[k].numpy() for k in keys}
            except tf.errors.OpError as exc:
                code = _GRPC_CODES.get(exc.error_code, grpc.StatusCode.INTERNAL)
                raise ServingError(code, tf_error_message(exc)) from None


def _nbytes(value: np.ndarray) -> int:
    if value.dtype == object:
        return sum(len(v) if isinstance(v, (bytes, str)) else 8 for v in value.reshape(-1))
    return int(value.nbytes)


def _to_array(alias: str, value: Any, spec: tf.TensorSpec, max_batch: int, max_elements: int) -> np.ndarray:
    """A TensorProto (gRPC) or array (REST) as a checked numpy array: right dtype, shape and batch size."""
    if hasattr(value, "dtype") and isinstance(value.dtype, int):  # a TensorProto
        return limits_lib.tensor_from_proto(alias, value, spec, max_batch, max_elements)
    if tf.as_dtype(value.dtype) != spec.dtype:
        raise invalid(f"Expects arg '{alias}' to be {spec.dtype.name} but {tf.as_dtype(value.dtype).name} "
                       "is provided")
    limits_lib.check_shape(alias, list(value.shape), spec, max_batch)
    return value


def _to_tensor(alias: str, array: np.ndarray, spec: tf.TensorSpec) -> tf.Tensor:
    try:
        return tf.constant(array, dtype=spec.dtype)
    except (ValueError, TypeError) as exc:
        raise invalid(f"Cannot convert input '{alias}' to {spec.dtype.name}: {exc}") from None


def _version_spec(model_spec: Any) -> tuple[int | None, str]:
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version":
        return model_spec.version.value, ""
    if choice == "version_label":
        return None, model_spec.version_label
    return None, ""


# ---------------------------------------------------------------------------------------------------- gRPC
class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager: ModelManager):
        self.manager = manager

    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        try:
            version, label = _version_spec(request.model_spec)
            servable, signature, outputs = self.manager.predict(
                request.model_spec.name, version, label, request.model_spec.signature_name, dict(request.inputs),
                list(request.output_filter))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = signature
            for key, array in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(array))
            return response
        except ServingError as exc:
            context.abort(exc.code, exc.message)

    def GetModelMetadata(self, request, context):  # noqa: N802
        try:
            if not request.metadata_field:
                raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
            for name in request.metadata_field:
                if name != "signature_def":
                    raise invalid(f"Metadata field {name} is not supported")
            version, label = _version_spec(request.model_spec)
            servable = self.manager.get(request.model_spec.name, version, label)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            sig_map = get_model_metadata_pb2.SignatureDefMap()
            for key, sig in servable.signature_defs.items():
                sig_map.signature_def[key].CopyFrom(sig)
            response.metadata["signature_def"].Pack(sig_map)
            return response
        except ServingError as exc:
            context.abort(exc.code, exc.message)

    def Classify(self, request, context):  # noqa: N802
        try:
            version, label = _version_spec(request.model_spec)
            servable = self.manager.get(request.model_spec.name, version, label)
            _, sig_def = servable.signature(request.model_spec.signature_name)
            if sig_def.method_name != CLASSIFY_METHOD:  # TF Serving's own check and message
                raise invalid(f"Expected classification signature method_name to be {CLASSIFY_METHOD}. "
                               f"Was: {sig_def.method_name}")
            raise ServingError(grpc.StatusCode.UNIMPLEMENTED, "Classify on classification signatures is not "
                               "implemented by the local server (zoo models export predict signatures); use "
                               "Predict, or the tensorflow/serving image.")
        except ServingError as exc:
            context.abort(exc.code, exc.message)

    def Regress(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Regress is not implemented by the local server; use Predict.")

    def MultiInference(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not implemented by the local server.")


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager):
        self.manager = manager

    def GetModelStatus(self, request, context):  # noqa: N802
        try:
            version, label = _version_spec(request.model_spec)
            if label:
                version = self.manager.get(request.model_spec.name, None, label).version
            response = get_model_status_pb2.GetModelStatusResponse()
            for v, state, error in self.manager.status(request.model_spec.name, version):
                status = response.model_version_status.add(version=v, state=state)
                status.status.error_code = 0 if not error else 13  # tensorflow.error.Code: OK / INTERNAL
                status.status.error_message = error
            return response
        except ServingError as exc:
            context.abort(exc.code, exc.message)


# ---------------------------------------------------------------------------------------------------- server
class ModelServer:
    """gRPC (and optionally REST) server over a :class:`ModelManager`. Binds 127.0.0.1 unless told otherwise.

    ``max_batch`` (and ``model_max_batch`` per model name) caps the examples of one request, ``max_inflight_mb``
    the estimated working memory of all requests running at once (``serving.limits``).
    """

    def __init__(self, entries: list[config_lib.ModelEntry], port: int = 8500, rest_port: int | None = None,
                 host: str = "127.0.0.1", poll_seconds: float = 2.0, max_message_bytes: int = MAX_MESSAGE_BYTES,
                 max_input_bytes: int = MAX_INPUT_BYTES, workers: int = 8,
                 max_batch: int = limits_lib.DEFAULT_MAX_BATCH, model_max_batch: dict[str, int] | None = None,
                 max_inflight_mb: int = limits_lib.DEFAULT_MAX_INFLIGHT_MB,
                 max_connections: int = rest_lib.MAX_CONNECTIONS, settle_seconds: float = SETTLE_SECONDS,
                 rest_idle_seconds: float = rest_lib.IDLE_SECONDS):
        unknown = sorted(set(model_max_batch or {}) - {e.name for e in entries})
        if unknown:
            raise config_lib.ConfigError(f"--max-batch names models that are not configured: {', '.join(unknown)}")
        limits = Limits(max_input_bytes, max_batch, dict(model_max_batch or {}))
        self.manager = ModelManager(entries, limits, Budget(max_inflight_mb * limits_lib.MiB), settle_seconds)
        self.host, self.port, self.rest_port, self.poll_seconds = host, port, rest_port, poll_seconds
        self.max_message_bytes, self.workers, self.max_connections = max_message_bytes, workers, max_connections
        self.rest_idle_seconds = rest_idle_seconds
        self._grpc: grpc.Server | None = None
        self._http: rest_lib.RestServer | None = None

    @classmethod
    def from_config(cls, config_path: str | Path, model_base: str | Path | None = None, **kwargs: Any
                    ) -> ModelServer:
        return cls(config_lib.load(config_path, model_base), **kwargs)

    def start(self) -> ModelServer:
        self.manager.start(self.poll_seconds)
        options = [("grpc.max_receive_message_length", self.max_message_bytes),
                   ("grpc.max_send_message_length", self.max_message_bytes),
                   ("grpc.max_connection_idle_ms", int(rest_lib.IDLE_SECONDS * 10_000)),  # 5 min
                   ("grpc.max_concurrent_streams", 4 * self.workers)]
        # calls beyond the workers queue up to this many; more are refused with RESOURCE_EXHAUSTED
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="grpc"),
                                 options=options, maximum_concurrent_rpcs=8 * self.workers)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(self.manager), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.manager), self._grpc)
        bound = self._grpc.add_insecure_port(f"{self.host}:{self.port}")
        if not bound:
            raise OSError(f"Cannot bind gRPC port {self.host}:{self.port}")
        self.port = bound
        self._grpc.start()
        if self.rest_port is not None:
            self._http = rest_lib.make_server(self.manager, self.host, self.rest_port, self.max_message_bytes,
                                              self.max_connections, self.rest_idle_seconds)
            self.rest_port = self._http.server_address[1]
            threading.Thread(target=self._http.serve_forever, name="rest", daemon=True).start()
        log.info("Serving gRPC on %s:%d%s", self.host, self.port,
                 f", REST on {self.host}:{self.rest_port}" if self._http else "")
        return self

    def wait(self) -> None:
        assert self._grpc is not None
        self._grpc.wait_for_termination()

    def stop(self, grace: float = 1.0) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace).wait()
        self.manager.stop()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
