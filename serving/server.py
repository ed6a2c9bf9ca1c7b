"""A local model server speaking TF Serving's gRPC API (PredictionService, ModelService) and a small REST front.

It serves the same SavedModel folders as the ``tensorflow/serving`` image (``<base_path>/<numeric version>/``), from
the same ``models.config``, so clients and tests run unchanged against either. A poller thread applies each model's
version policy (latest N, all, specific): it loads newly pushed versions without a restart and unloads the others
once a wanted version is available. Status codes follow TF Serving (see README, "Serving"); the server keeps
serving after every bad request.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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

log = logging.getLogger("scorezoo.serving")

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # gRPC receive/send cap: larger requests fail with RESOURCE_EXHAUSTED
MAX_INPUT_BYTES = 32 * 1024 * 1024  # cap on a request's input tensors: larger ones fail with INVALID_ARGUMENT
State = get_model_status_pb2.ModelVersionStatus.State

# tf.errors codes are the gRPC status codes' numbers
_GRPC_CODES = {c.value[0]: c for c in grpc.StatusCode}
_HTTP = {grpc.StatusCode.OK: 200, grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
         grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409,
         grpc.StatusCode.ABORTED: 409, grpc.StatusCode.PERMISSION_DENIED: 403,
         grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
         grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.UNAVAILABLE: 503,
         grpc.StatusCode.DEADLINE_EXCEEDED: 504}


class ServingError(Exception):
    """A request failed with a gRPC status ``code`` and a message for the client."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


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
            raise _invalid(f'Serving signature name: "{name}" not found in signature def')
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


def _version_dirs(base: Path) -> list[int]:
    """Numeric version folders holding a complete SavedModel (an exporter renames them into place when done)."""
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir()
                  if p.name.isdigit() and ((p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file()))


class ModelManager:
    """Loads, serves and unloads model versions according to each model's version policy."""

    def __init__(self, entries: list[config_lib.ModelEntry], max_input_bytes: int = MAX_INPUT_BYTES):
        self.models = {e.name: _Model(e) for e in entries}
        self.max_input_bytes = max_input_bytes
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------------------------------------- lifecycle
    def poll_once(self) -> None:
        for model in self.models.values():
            try:
                self._sync(model)
            except Exception:  # noqa: BLE001 - one broken model folder must not stop the poller
                log.exception("Polling %s failed", model.entry.base_path)

    def _sync(self, model: _Model) -> None:
        name, base = model.entry.name, model.entry.base_path
        available = _version_dirs(base)
        wanted = model.entry.policy.select(available)
        for version in wanted:
            if version in model.servables or model.states.get(version, (State.START, ""))[1]:
                continue  # loaded, or its load failed (not retried; an unloaded version is reloaded if wanted again)
            with self._lock:
                model.states[version] = (State.LOADING, "")
            t = time.perf_counter()
            try:
                servable = load_servable(name, version, base / str(version))
            except Exception as exc:  # noqa: BLE001 - a bad SavedModel is reported in the status, not raised
                log.error("Loading %s version %d failed: %s", name, version, exc)
                with self._lock:
                    model.states[version] = (State.END, f"Loading failed: {exc}")
                continue
            with self._lock:
                model.servables[version] = servable
                model.states[version] = (State.AVAILABLE, "")
            log.info("Loaded %s version %d in %.1f s", name, version, time.perf_counter() - t)
        with self._lock:
            if not any(v in model.servables for v in wanted) and available:
                return  # availability first: keep serving the old versions until a wanted one loads
            for version in [v for v in model.servables if v not in wanted]:
                model.states[version] = (State.UNLOADING, "")
                del model.servables[version]  # in-flight requests keep their reference until they finish
                model.states[version] = (State.END, "")
                log.info("Unloaded %s version %d", name, version)

    def start(self, poll_seconds: float = 2.0) -> None:
        """Load what the policies want now (blocking, like TF Serving's start-up), then keep polling."""
        self.poll_once()
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
                    raise _invalid(f"Unrecognized servable version label: {label}")
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
            raise _invalid(f"Expected prediction signature method_name to be {PREDICT_METHOD}. "
                           f"Was: {sig_def.method_name}")
        specs = fn.structured_input_signature[1]
        expected = "{" + ",".join(sorted(specs)) + "}"
        for alias in inputs:
            if alias not in specs:
                raise _invalid(f"input tensor alias not found in signature: {alias}. "
                               f"Inputs expected to be in the set {expected}.")
        missing = sorted(set(specs) - set(inputs))
        if missing:
            raise _invalid(f"Missing input tensor alias(es): {', '.join(missing)}. "
                           f"Inputs expected to be in the set {expected}.")
        size = sum(v.ByteSize() if hasattr(v, "ByteSize") else _nbytes(v) for v in inputs.values())
        if size > self.max_input_bytes:
            raise _invalid(f"Request inputs are {size} bytes; this server accepts at most {self.max_input_bytes}.")
        tensors = {alias: _to_tensor(alias, value, specs[alias]) for alias, value in inputs.items()}
        outputs = list(fn.structured_outputs)
        for alias in output_filter:
            if alias not in outputs:
                raise _invalid(f"output tensor alias not found in signature: {alias} Outputs expected to be in "
                               "the set {" + ",".join(sorted(outputs)) + "}.")
        keys = list(dict.fromkeys(output_filter)) or outputs
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


def _to_tensor(alias: str, value: Any, spec: tf.TensorSpec) -> tf.Tensor:
    if hasattr(value, "dtype") and isinstance(value.dtype, int):  # a TensorProto
        if value.dtype != spec.dtype.as_datatype_enum:
            given = tf.as_dtype(value.dtype).name if value.dtype else "an invalid type"
            raise _invalid(f"Expects arg '{alias}' to be {spec.dtype.name} but {given} is provided")
        try:
            array = tf.make_ndarray(value)
        except (ValueError, TypeError) as exc:
            raise _invalid(f"Cannot parse input tensor '{alias}': {exc}") from None
    else:
        array = value
        if tf.as_dtype(array.dtype) != spec.dtype:
            raise _invalid(f"Expects arg '{alias}' to be {spec.dtype.name} but {tf.as_dtype(array.dtype).name} "
                           "is provided")
    if not spec.shape.is_compatible_with(array.shape):
        raise _invalid(f"Input '{alias}' has shape {list(array.shape)}; the signature expects "
                       f"{spec.shape.as_list() if spec.shape.rank is not None else 'any'} (None = any size).")
    try:
        return tf.constant(array, dtype=spec.dtype)
    except (ValueError, TypeError) as exc:
        raise _invalid(f"Cannot convert input '{alias}' to {spec.dtype.name}: {exc}") from None


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
                raise _invalid("GetModelMetadataRequest must specify at least one metadata_field")
            for name in request.metadata_field:
                if name != "signature_def":
                    raise _invalid(f"Metadata field {name} is not supported")
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
                raise _invalid(f"Expected classification signature method_name to be {CLASSIFY_METHOD}. "
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


# ---------------------------------------------------------------------------------------------------- REST
_ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                    r"(?P<verb>:predict|:classify|:regress|/metadata)?/?$")


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _from_json(value: Any, dtype: tf.DType) -> np.ndarray:
    def convert(v: Any) -> Any:
        if isinstance(v, list):
            return [convert(x) for x in v]
        if isinstance(v, dict):
            if set(v) != {"b64"}:
                raise _invalid(f"Expected an object with a single 'b64' key, got {sorted(v)}")
            try:
                return base64.b64decode(v["b64"], validate=True)
            except (ValueError, TypeError) as exc:
                raise _invalid(f"Unable to base64 decode: {exc}") from None
        return v.encode("utf-8") if isinstance(v, str) and dtype == tf.string else v

    data = convert(value)
    try:
        array = np.array(data, dtype=object if dtype == tf.string else dtype.as_numpy_dtype)
    except (ValueError, TypeError) as exc:
        raise _invalid(f"Cannot convert JSON input to {dtype.name}: {exc}") from None
    if dtype == tf.string and any(not isinstance(v, bytes) for v in array.reshape(-1)):
        raise _invalid("Expects a string (or {\"b64\": ...}) input but a number is provided")
    return array


class _RestHandler(BaseHTTPRequestHandler):
    manager: ModelManager
    max_body: int = MAX_MESSAGE_BYTES
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("REST %s", fmt % args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> re.Match[str]:
        match = _ROUTE.match(self.path.split("?", 1)[0])
        if not match:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: {self.command} {self.path}")
        return match

    def _handle(self, fn: Any) -> None:
        try:
            self._send(200, fn(self._route()))
        except ServingError as exc:
            self._send(_HTTP.get(exc.code, 500), {"error": exc.message})
        except Exception as exc:  # noqa: BLE001 - never drop the connection without an answer
            log.exception("REST request failed")
            self._send(500, {"error": f"Internal error: {exc}"})

    def do_GET(self) -> None:  # noqa: N802
        def get(m: re.Match[str]) -> dict[str, Any]:
            version = int(m["version"]) if m["version"] else None
            if m["verb"] == "/metadata":
                from google.protobuf import json_format

                servable = self.manager.get(m["name"], version, m["label"] or "")
                sig_map = get_model_metadata_pb2.SignatureDefMap()
                for key, sig in servable.signature_defs.items():
                    sig_map.signature_def[key].CopyFrom(sig)
                return {"model_spec": {"name": servable.name, "version": str(servable.version)},
                        "metadata": {"signature_def": json_format.MessageToDict(sig_map)}}
            if m["verb"]:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: GET {self.path}")
            if m["label"]:
                version = self.manager.get(m["name"], None, m["label"]).version
            return {"model_version_status": [
                {"version": str(v), "state": State.Name(s),
                 "status": {"error_code": "OK" if not e else "INTERNAL", "error_message": e}}
                for v, s, e in self.manager.status(m["name"], version)]}

        self._handle(get)

    def do_POST(self) -> None:  # noqa: N802
        def post(m: re.Match[str]) -> dict[str, Any]:
            if m["verb"] != ":predict":
                raise ServingError(grpc.StatusCode.UNIMPLEMENTED if m["verb"] else grpc.StatusCode.NOT_FOUND,
                                   f"Only :predict is served over REST by the local server, not {m['verb']}")
            length = int(self.headers.get("Content-Length") or 0)
            if length > self.max_body:
                raise _invalid(f"Request body is {length} bytes; this server accepts at most {self.max_body}.")
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError as exc:
                raise _invalid(f"JSON Parse error: {exc}") from None
            if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
                raise _invalid("Missing 'inputs' or 'instances' key (exactly one of them is required)")
            version = int(m["version"]) if m["version"] else None
            servable = self.manager.get(m["name"], version, m["label"] or "")
            fn, _ = servable.signature(body.get("signature_name", ""))
            specs = fn.structured_input_signature[1]
            row = "instances" in body
            data = body["instances"] if row else body["inputs"]
            if row:
                if not isinstance(data, list):
                    raise _invalid("'instances' must be a list")
                if len(specs) == 1 and not (data and isinstance(data[0], dict) and set(data[0]) - {"b64"}):
                    data = {next(iter(specs)): data}
                else:
                    if not all(isinstance(d, dict) for d in data):
                        raise _invalid("Each instance must be an object keyed by input name")
                    data = {k: [d.get(k) for d in data] for k in {k for d in data for k in d}}
            elif not isinstance(data, dict):
                data = {next(iter(specs)): data} if len(specs) == 1 else data
                if not isinstance(data, dict):
                    raise _invalid("'inputs' must be an object keyed by input name for a multi-input signature")
            arrays = {k: _from_json(v, specs[k].dtype) if k in specs else np.array(v) for k, v in data.items()}
            servable, _, outputs = self.manager.predict(servable.name, servable.version, "",
                                                        body.get("signature_name", ""), arrays)
            lists = {k: _json_value(v.tolist()) for k, v in outputs.items()}
            if not row:
                return {"outputs": lists if len(lists) > 1 else next(iter(lists.values()))}
            if len(lists) == 1:
                return {"predictions": next(iter(lists.values()))}
            n = len(next(iter(lists.values())))
            return {"predictions": [{k: v[i] for k, v in lists.items()} for i in range(n)]}

        self._handle(post)


# ---------------------------------------------------------------------------------------------------- server
class ModelServer:
    """gRPC (and optionally REST) server over a :class:`ModelManager`. Binds 127.0.0.1 unless told otherwise."""

    def __init__(self, entries: list[config_lib.ModelEntry], port: int = 8500, rest_port: int | None = None,
                 host: str = "127.0.0.1", poll_seconds: float = 2.0, max_message_bytes: int = MAX_MESSAGE_BYTES,
                 max_input_bytes: int = MAX_INPUT_BYTES, workers: int = 8):
        self.manager = ModelManager(entries, max_input_bytes)
        self.host, self.port, self.rest_port, self.poll_seconds = host, port, rest_port, poll_seconds
        self.max_message_bytes, self.workers = max_message_bytes, workers
        self._grpc: grpc.Server | None = None
        self._http: ThreadingHTTPServer | None = None

    @classmethod
    def from_config(cls, config_path: str | Path, model_base: str | Path | None = None, **kwargs: Any
                    ) -> ModelServer:
        return cls(config_lib.load(config_path, model_base), **kwargs)

    def start(self) -> ModelServer:
        self.manager.start(self.poll_seconds)
        options = [("grpc.max_receive_message_length", self.max_message_bytes),
                   ("grpc.max_send_message_length", self.max_message_bytes)]
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="grpc"),
                                 options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(self.manager), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.manager), self._grpc)
        bound = self._grpc.add_insecure_port(f"{self.host}:{self.port}")
        if not bound:
            raise OSError(f"Cannot bind gRPC port {self.host}:{self.port}")
        self.port = bound
        self._grpc.start()
        if self.rest_port is not None:
            handler = type("RestHandler", (_RestHandler,), {"manager": self.manager,
                                                            "max_body": self.max_message_bytes})
            self._http = ThreadingHTTPServer((self.host, self.rest_port), handler)
            self._http.daemon_threads = True
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
