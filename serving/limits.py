"""What one request may ask of the local server, checked before anything is allocated for it.

A 132 KB ``PredictRequest`` whose tensor claims a shape of [50000000] but carries one string would be expanded to
fifty million strings by ``tf.make_ndarray``; a 441 KB PNG can claim 20,000 × 20,000 pixels; 700 one-second clips
fit in the message cap and cost gigabytes in the network. So, before a request runs:

* its tensors are checked against what they carry (:func:`tensor_from_proto`, :func:`check_shape`): no negative
  or unknown dimensions, exactly as many values as the shape claims, a batch of 1 to ``max_batch``;
* its cost is estimated from the headers of the media it holds (:func:`estimate_bytes`) and reserved from a
  server-wide :class:`Budget` of in-flight work; over it the answer is RESOURCE_EXHAUSTED (HTTP 429).

The figures behind the estimate are in docs/decisions/0001-request-limits.md.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from serving import defaults
from zoo.preprocessing import audio, headers, image

log = logging.getLogger("scorezoo.serving")

DEFAULT_MAX_BATCH = defaults.MAX_BATCH
DEFAULT_MAX_INFLIGHT_MB = defaults.MAX_INFLIGHT_MB
MiB = 1 << 20

# Working memory per unit of input, measured as the peak resident growth of one request through the exported
# signatures (docs/decisions/0001-request-limits.md), rounded up.
IMAGE_BYTES_PER_PIXEL = 28  # decode to RGB, to float, to grayscale, trim, resize
STAFF_BYTES_PER_COLUMN = 16 * 1024  # the recognizer's activations per column of the 64-px-high staff
STAFF_FIXED_BYTES = 2 * MiB  # each staff padded to the widest width the graph accepts
AUDIO_BYTES_PER_BYTE = 6  # decoded float samples and their crops, per byte of encoded audio
CLIP_BYTES = 8 * MiB  # the genre network on one 10-second window
LOG_MEL_BYTES = 427 * 128 * 4 * 3  # a window's log-mel and two copies of it
OTHER_BYTES_PER_BYTE = 4  # any other input: a few copies of itself

# the repeated field holding a TensorProto's values, per dtype (complex types hold two numbers per value)
_VALUE_FIELDS = {
    types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val", types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val", types_pb2.DT_INT8: "int_val", types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val", types_pb2.DT_INT64: "int64_val", types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val", types_pb2.DT_BOOL: "bool_val", types_pb2.DT_STRING: "string_val",
    types_pb2.DT_HALF: "half_val", types_pb2.DT_BFLOAT16: "half_val", types_pb2.DT_COMPLEX64: "scomplex_val",
    types_pb2.DT_COMPLEX128: "dcomplex_val",
}
_PAIRED = {types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128}


class RequestError(Exception):
    """A request refused with a gRPC status ``code`` and a sentence for the client."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def invalid(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


@dataclass(frozen=True)
class Limits:
    """The caps a server applies to every request (``scorezoo serve`` options)."""

    max_input_bytes: int = defaults.MAX_MESSAGE_MB * MiB // 2
    max_batch: int = DEFAULT_MAX_BATCH
    model_max_batch: dict[str, int] = field(default_factory=dict)  # per model name, overriding max_batch

    def batch_cap(self, model: str) -> int:
        return self.model_max_batch.get(model, self.max_batch)


# ---------------------------------------------------------------------------------------------------- tensors
def check_shape(alias: str, dims: list[int], spec: tf.TensorSpec, max_batch: int) -> None:
    """Refuse a shape the signature does not take or a batch outside 1..``max_batch``, naming the input."""
    if any(d < 0 for d in dims):
        raise invalid(f"Input '{alias}' has shape {dims}; dimensions cannot be negative.")
    if not spec.shape.is_compatible_with(dims):
        expected = spec.shape.as_list() if spec.shape.rank is not None else "any"
        raise invalid(f"Input '{alias}' has shape {dims}; the signature expects {expected} (None = any size).")
    if dims and spec.shape.rank and spec.shape[0] is None:  # a batch dimension
        if dims[0] == 0:
            raise invalid(f"Input '{alias}' holds no examples (a batch of 0); send at least one.")
        if dims[0] > max_batch:
            raise invalid(f"Input '{alias}' holds {dims[0]} examples; this server takes at most {max_batch} per "
                          "request: split the batch.")


def tensor_from_proto(alias: str, proto: Any, spec: tf.TensorSpec, max_batch: int, max_elements: int
                      ) -> np.ndarray:
    """A TensorProto's array, after checking that it carries exactly the values its shape claims."""
    if proto.dtype != spec.dtype.as_datatype_enum:
        given = tf.as_dtype(proto.dtype).name if proto.dtype in types_pb2.DataType.values() and proto.dtype \
            else "an invalid type"
        raise invalid(f"Expects arg '{alias}' to be {spec.dtype.name} but {given} is provided")
    if proto.tensor_shape.unknown_rank:
        raise invalid(f"Input '{alias}' has no shape (unknown rank); give its dimensions.")
    dims = [d.size for d in proto.tensor_shape.dim]
    check_shape(alias, dims, spec, max_batch)
    count = math.prod(dims)
    if count > max_elements:
        raise invalid(f"Input '{alias}' claims {count:,} values; this server accepts at most {max_elements:,}.")
    if proto.tensor_content:
        if proto.dtype == types_pb2.DT_STRING:
            raise invalid(f"Input '{alias}': string tensors carry their values in string_val, not tensor_content.")
        expected = count * spec.dtype.size
        if len(proto.tensor_content) != expected:
            raise invalid(f"Input '{alias}' claims shape {dims} ({expected:,} bytes of {spec.dtype.name}) but "
                          f"carries {len(proto.tensor_content):,} bytes.")
    else:
        carried = len(getattr(proto, _VALUE_FIELDS[proto.dtype])) if proto.dtype in _VALUE_FIELDS else -1
        if carried < 0:
            raise invalid(f"Input '{alias}': {spec.dtype.name} tensors are not accepted.")
        carried //= 2 if proto.dtype in _PAIRED else 1
        if carried != count:
            raise invalid(f"Input '{alias}' claims shape {dims} ({count:,} values) but carries {carried:,}; "
                          "send every value.")
    try:
        return tf.make_ndarray(proto)
    except (ValueError, TypeError) as exc:
        raise invalid(f"Cannot parse input tensor '{alias}': {exc}") from None


# ---------------------------------------------------------------------------------------------------- cost
def _strings(array: np.ndarray) -> Iterator[bytes]:
    for value in array.reshape(-1):
        yield value if isinstance(value, bytes) else str(value).encode()


def _string_cost(values: Iterable[bytes]) -> int:
    total, staves, widest = 0, 0, 0
    for data in values:
        kind = _media_kind(data)
        if kind == "image":
            try:
                head = headers.image_header(data)
            except ValueError:  # the graph refuses it before decoding; it costs its bytes
                total += OTHER_BYTES_PER_BYTE * len(data)
                continue
            total += IMAGE_BYTES_PER_PIXEL * head.pixels
            staves += 1
            widest = max(widest, min(image.MAX_WIDTH, head.width * image.HEIGHT // max(1, head.height)))
        elif kind == "audio":  # every 10-s window is a clip through the network, at most audio.WINDOW_BATCH at once
            try:
                windows = max(1, math.ceil(headers.audio_header(data).seconds / audio.CLIP_SECONDS))
            except ValueError:
                windows = 1
            total += AUDIO_BYTES_PER_BYTE * len(data) + CLIP_BYTES * min(windows, audio.WINDOW_BATCH) \
                + LOG_MEL_BYTES * windows
        else:
            total += OTHER_BYTES_PER_BYTE * len(data)
    # a batch of staves runs at the width of its widest one
    return total + staves * (STAFF_FIXED_BYTES + STAFF_BYTES_PER_COLUMN * widest)


_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8", b"BM", b"GIF8")
_AUDIO_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")


def _media_kind(data: bytes) -> str:
    if data.startswith(_IMAGE_MAGIC):
        return "image"
    if data.startswith(_AUDIO_MAGIC):
        return "audio"
    return "other"


def estimate_bytes(arrays: dict[str, np.ndarray]) -> int:
    """Working memory a request's inputs will take, read from their media headers without decoding them."""
    total = 0
    for array in arrays.values():
        if array.dtype == object:
            total += _string_cost(_strings(array))
        else:
            total += OTHER_BYTES_PER_BYTE * int(array.nbytes)
    return total


# ---------------------------------------------------------------------------------------------------- budget
def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


class Budget:
    """A server-wide budget of the estimated memory of requests in flight.

    A request that would take the total over ``max_bytes`` is refused with RESOURCE_EXHAUSTED at once (a client
    retries later) instead of queueing into swap. Once the server has been idle for ``trim_after_seconds`` after a
    burst, freed memory is handed back to the system (``malloc_trim``), so it returns to its idle size; while
    requests keep coming, nothing is trimmed (the next request would only fault the pages back in).
    """

    def __init__(self, max_bytes: int, trim_after_seconds: float = 1.0):
        self.max_bytes = max_bytes
        self.used = 0
        self.in_flight = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._last_request = 0.0  # monotonic time the last request ended; 0: nothing to trim
        self._trim = _malloc_trim()
        self._trim_after = trim_after_seconds
        self._stop = threading.Event()
        self._trimmer = threading.Thread(target=self._trim_loop, name="memory-trim", daemon=True)
        self._trimmer.start()

    @contextmanager
    def reserve(self, cost: int) -> Iterator[None]:
        with self._lock:
            if cost > self.max_bytes:
                raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                   f"This request needs about {cost / MiB:,.0f} MB of working memory, more than the "
                                   f"server's whole budget ({self.max_bytes / MiB:,.0f} MB, --max-inflight-mb): "
                                   "send fewer or smaller inputs.")
            if self.used + cost > self.max_bytes:
                raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                   f"The server is busy: this request needs about {cost / MiB:,.0f} MB and "
                                   f"{self.used / MiB:,.0f} of its {self.max_bytes / MiB:,.0f} MB are in use; "
                                   "retry shortly.")
            self.used += cost
            self.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self.used -= cost
                self.in_flight -= 1
                self._last_request = time.monotonic()
                self._changed.notify_all()

    def _trim_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                while not self._stop.is_set():
                    if self._last_request and self.in_flight == 0:
                        quiet = time.monotonic() - self._last_request
                        if quiet >= self._trim_after:
                            self._last_request = 0.0
                            break
                        self._changed.wait(timeout=self._trim_after - quiet)
                    else:
                        self._changed.wait(timeout=5.0)
            if self._stop.is_set():
                return
            if self._trim is not None:
                self._trim(0)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._changed.notify_all()
