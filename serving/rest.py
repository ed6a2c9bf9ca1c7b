"""TF Serving's REST API over a :class:`~serving.server.ModelManager` (predict, model status, metadata).

Every answer is JSON, errors included (``{"error": "..."}``, with TF Serving's HTTP status for the gRPC code), for
malformed requests too: a request line or method it does not serve is ``400 Malformed request``, as in TF Serving;
a body over the cap is 413 without being read; a connection idle for ``idle_seconds`` is closed and a body that
takes longer than ``body_seconds`` to arrive is refused (408); beyond ``max_connections`` open connections a new
one is answered 503 and closed, so half-open clients cannot hold every thread.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2

from serving import defaults
from serving.limits import RequestError, invalid

log = logging.getLogger("scorezoo.serving")

MAX_JSON_DEPTH = 32  # nesting of a request body: a tensor of rank 30 inside {"inputs": {...}} fits
IDLE_SECONDS = 30.0  # a keep-alive connection with nothing to say for this long is closed
BODY_SECONDS = 60.0  # a request body must arrive within this
MAX_CONNECTIONS = defaults.MAX_CONNECTIONS

HTTP_STATUS = {grpc.StatusCode.OK: 200, grpc.StatusCode.INVALID_ARGUMENT: 400,
               grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.OUT_OF_RANGE: 400,
               grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.ABORTED: 409,
               grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.UNAUTHENTICATED: 401,
               grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.UNIMPLEMENTED: 501,
               grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DEADLINE_EXCEEDED: 504}
_ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                    r"(?P<verb>:predict|:classify|:regress|/metadata)?/?$")


class _HttpError(Exception):
    """An HTTP-level refusal (413, 408, 411) that has no gRPC twin."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _depth(value: Any) -> int:
    """How deeply a parsed JSON value nests (iteratively: a deep body must not exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _from_json(value: Any, dtype: tf.DType) -> np.ndarray:
    def convert(v: Any) -> Any:
        if isinstance(v, list):
            return [convert(x) for x in v]
        if isinstance(v, dict):
            if set(v) != {"b64"} or not isinstance(v["b64"], str):
                raise invalid(f"Expected an object with a single 'b64' string, got {sorted(v)}")
            try:
                return base64.b64decode(v["b64"], validate=True)
            except (ValueError, TypeError) as exc:
                raise invalid(f"Unable to base64 decode: {exc}") from None
        return v.encode("utf-8") if isinstance(v, str) and dtype == tf.string else v

    data = convert(value)
    try:
        array = np.array(data, dtype=object if dtype == tf.string else dtype.as_numpy_dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise invalid(f"Cannot convert JSON input to {dtype.name}: {exc}") from None
    if dtype == tf.string and any(not isinstance(v, bytes) for v in array.reshape(-1)):
        raise invalid("Expects a string (or {\"b64\": ...}) input but a number is provided")
    return array


class RestHandler(BaseHTTPRequestHandler):
    manager: Any  # serving.server.ModelManager
    max_body: int
    body_seconds: float = BODY_SECONDS
    timeout = IDLE_SECONDS  # socket time-out: an idle or stalled connection is closed
    protocol_version = "HTTP/1.1"
    error_content_type = "application/json"
    error_message_format = '{"error": "%(message)s"}'

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("REST %s", fmt % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (bad request line, headers too long, ...) answered in JSON like every other error."""
        self.close_connection = True
        if getattr(self, "request_version", "") in ("", "HTTP/0.9"):  # an unparsed request line: answer HTTP/1.0
            self.request_version = "HTTP/1.0"
        if code == 501:  # a method nobody serves: TF Serving's answer to anything it does not route
            code, message = 400, f"Malformed request: {self.command} {self.path}"
            self._discard_body()
        text = message or self.responses.get(code, ("Error",))[0]
        try:
            self._send(code, {"error": text})
        except OSError:
            pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> re.Match[str]:
        match = _ROUTE.match(self.path.split("?", 1)[0])
        if not match:
            raise invalid(f"Malformed request: {self.command} {self.path}")
        return match

    def _handle(self, fn: Any) -> None:
        try:
            result = fn(self._route())
        except RequestError as exc:
            status, body = HTTP_STATUS.get(exc.code, 500), {"error": exc.message}
        except _HttpError as exc:
            status, body = exc.status, {"error": exc.message}
        except Exception as exc:  # noqa: BLE001 - never drop the connection without an answer
            log.exception("REST request failed")
            status, body = 500, {"error": f"Internal error: {exc}"}
        else:
            status, body = 200, result
        if self.command == "POST" and not self._read_body:
            self.close_connection = True  # an unread body would be taken for the next request
            self._discard_body()
        self._send(status, body)

    def _discard_body(self, limit: int = 1 << 20) -> None:
        """Read a small body the answer does not need, so that the client, still sending it, reads the answer
        instead of a reset connection."""
        header = self.headers.get("Content-Length", "") if getattr(self, "headers", None) else ""
        if header.strip().isdigit() and int(header) <= limit:
            try:
                self.rfile.read(int(header))
            except OSError:
                pass

    def _malformed(self) -> None:
        self.close_connection = True
        self._discard_body()
        self._send(400, {"error": f"Malformed request: {self.command} {self.path}"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_TRACE = do_CONNECT = _malformed  # noqa: N815

    def do_GET(self) -> None:  # noqa: N802
        self._read_body = True  # a GET has none

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
                raise invalid(f"Malformed request: GET {self.path}")
            if m["label"]:
                version = self.manager.get(m["name"], None, m["label"]).version
            from serving.server import State

            return {"model_version_status": [
                {"version": str(v), "state": State.Name(s),
                 "status": {"error_code": "OK" if not e else "INTERNAL", "error_message": e}}
                for v, s, e in self.manager.status(m["name"], version)]}

        self._handle(get)

    def _body(self) -> bytes:
        """The request body, within the size cap and the time allowed for it to arrive."""
        self._read_body = True  # read here, or the connection closed on failure: never drained afterwards
        header = self.headers.get("Content-Length")
        if header is None:
            self.close_connection = True
            raise _HttpError(411, "A POST request needs a Content-Length header.")
        if not header.strip().isdigit():
            self.close_connection = True
            raise invalid(f"Content-Length must be a number of bytes, not {header[:40]!r}.")
        length = int(header)
        if length > self.max_body:
            self.close_connection = True  # the body is not read
            raise _HttpError(413, f"Request body is {length:,} bytes; this server accepts at most "
                                  f"{self.max_body:,}.")
        chunks, left, deadline = [], length, time.monotonic() + self.body_seconds
        while left:
            if time.monotonic() > deadline:
                self.close_connection = True
                raise _HttpError(408, f"The request body did not arrive within {self.body_seconds:g} s.")
            try:
                chunk = self.rfile.read1(min(left, 1 << 16))
            except TimeoutError:  # nothing for the idle time-out (socket.timeout is TimeoutError)
                self.close_connection = True
                raise _HttpError(408, f"The request body stalled: {length - left:,} of {length:,} bytes arrived "
                                      f"and nothing more for {self.timeout:g} s.") from None
            if not chunk:
                self.close_connection = True
                raise invalid(f"The request body ended after {length - left:,} of {length:,} bytes.")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def do_POST(self) -> None:  # noqa: N802
        self._read_body = False

        def post(m: re.Match[str]) -> dict[str, Any]:
            raw = self._body()
            if m["verb"] != ":predict":
                raise RequestError(grpc.StatusCode.UNIMPLEMENTED if m["verb"] else grpc.StatusCode.INVALID_ARGUMENT,
                                   f"Only :predict is served over REST by the local server, not {m['verb']}"
                                   if m["verb"] else f"Malformed request: POST {self.path}")
            try:
                body = json.loads(raw or b"null")
            except RecursionError:
                raise invalid(f"JSON Parse error: nested more than {MAX_JSON_DEPTH} levels deep") from None
            except ValueError as exc:
                raise invalid(f"JSON Parse error: {exc}") from None
            if _depth(body) > MAX_JSON_DEPTH:
                raise invalid(f"JSON Parse error: nested more than {MAX_JSON_DEPTH} levels deep")
            if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
                raise invalid("Missing 'inputs' or 'instances' key (exactly one of them is required)")
            signature_name = body.get("signature_name", "")
            if not isinstance(signature_name, str):
                raise invalid(f"'signature_name' must be a string, not {type(signature_name).__name__}")
            version = int(m["version"]) if m["version"] else None
            servable = self.manager.get(m["name"], version, m["label"] or "")
            fn, _ = servable.signature(signature_name)
            specs = fn.structured_input_signature[1]
            row = "instances" in body
            data = body["instances"] if row else body["inputs"]
            if row:
                if not isinstance(data, list):
                    raise invalid("'instances' must be a list")
                if len(specs) == 1 and not (data and isinstance(data[0], dict) and set(data[0]) - {"b64"}):
                    data = {next(iter(specs)): data}
                else:
                    if not all(isinstance(d, dict) for d in data):
                        raise invalid("Each instance must be an object keyed by input name")
                    data = {k: [d.get(k) for d in data] for k in {k for d in data for k in d}}
            elif not isinstance(data, dict):
                data = {next(iter(specs)): data} if len(specs) == 1 else data
                if not isinstance(data, dict):
                    raise invalid("'inputs' must be an object keyed by input name for a multi-input signature")
            # an unknown input name is refused by the manager, by name, without converting its value
            arrays = {k: _from_json(v, specs[k].dtype) if k in specs else np.zeros(0) for k, v in data.items()}
            servable, _, outputs = self.manager.predict(servable.name, servable.version, "", signature_name, arrays)
            lists = {k: _json_value(v.tolist()) for k, v in outputs.items()}
            if not row:
                return {"outputs": lists if len(lists) > 1 else next(iter(lists.values()))}
            if len(lists) == 1:
                return {"predictions": next(iter(lists.values()))}
            n = len(next(iter(lists.values())))
            return {"predictions": [{k: v[i] for k, v in lists.items()} for i in range(n)]}

        self._handle(post)


class RestServer(ThreadingHTTPServer):
    """One thread per connection, at most ``max_connections`` at once; the next is answered 503 and closed."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[RestHandler], max_connections: int = MAX_CONNECTIONS):
        super().__init__(address, handler)
        self.max_connections = max_connections
        self._open = 0
        self._count_lock = threading.Lock()

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        with self._count_lock:
            full = self._open >= self.max_connections
            if not full:
                self._open += 1
        if full:
            body = json.dumps({"error": f"The server has {self.max_connections} connections open; retry shortly."})
            try:
                request.settimeout(1.0)
                request.sendall((f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode())
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count_lock:
                self._open -= 1


def make_server(manager: Any, host: str, port: int, max_body: int, max_connections: int = MAX_CONNECTIONS,
                idle_seconds: float = IDLE_SECONDS, body_seconds: float = BODY_SECONDS) -> RestServer:
    handler = type("BoundRestHandler", (RestHandler,), {"manager": manager, "max_body": max_body,
                                                        "timeout": idle_seconds, "body_seconds": body_seconds})
    return RestServer((host, port), handler, max_connections)
