"""REST requests a careless or hostile client sends: every answer is JSON with TF Serving's status, nothing hangs,
and idle or half-open connections cannot hold the server's threads."""
from __future__ import annotations

import base64
import json
import socket
import time

import pytest

from tests.integration.security.security_caps import IDLE_SECONDS, MAX_CONNECTIONS, MAX_MESSAGE


def _exchange(server, raw: bytes, timeout: float = 10.0) -> tuple[int, dict]:
    """Send ``raw`` bytes, read one HTTP answer: (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=timeout) as sock:
        sock.sendall(raw)
        return _answer(sock)


def _answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    assert headers["content-type"] == "application/json", lines
    length = int(headers["content-length"])
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1]), json.loads(body[:length])


def _post(path: str, body: bytes, length: str | None = None, extra: str = "") -> bytes:
    size = str(len(body)) if length is None else length
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n"
            f"{extra}\r\n").encode() + body


PREDICT = "/v1/models/genre-cnn:predict"


@pytest.mark.parametrize("raw, status, needle", [
    (_post(PREDICT, b"{}", length="abc"), 400, "Content-Length must be a number"),
    (_post(PREDICT, b"{}", length="-1"), 400, "Content-Length must be a number"),
    (_post(PREDICT, b'{"signature_name": 5, "instances": []}'), 400, "'signature_name' must be a string"),
    (_post(PREDICT, b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}"), 400, "nested more than 32 levels"),
    (_post(PREDICT, b'{"inputs": ' + b"[" * 40 + b"1" + b"]" * 40 + b"}"), 400, "nested more than 32 levels"),
    (_post(PREDICT, b"{not json"), 400, "JSON Parse error"),
    (_post(PREDICT, b"{}", length=str(MAX_MESSAGE + 1)), 413, "accepts at most"),
    (_post(PREDICT, b'{"instances": []}', length="100000", extra=""), 400, "ended after"),
    (b"PUT /v1/models/genre-cnn HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, "Malformed request: PUT"),
    (b"DELETE /v1/models/genre-cnn HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Malformed request: DELETE"),
    (b"BREW /v1/models/genre-cnn HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Malformed request: BREW"),
    (b"GET /v2/nothing HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Malformed request: GET /v2/nothing"),
    (b"GARBAGE\r\n\r\n", 400, "Bad request"),
    (b"POST /v1/models/genre-cnn:predict HTTP/1.1\r\nHost: x\r\n\r\n", 411, "needs a Content-Length"),
])
def test_malformed_requests_get_a_json_error_with_tf_servings_status(server, raw, status, needle):
    if b"ended after" in needle.encode():
        # the client promises 100,000 bytes and closes after 17: the answer comes at once, not after a time-out
        with socket.create_connection(("127.0.0.1", server.rest_port), timeout=10) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            got = _answer(sock)
    else:
        got = _exchange(server, raw)
    assert got[0] == status and needle.lower() in got[1]["error"].lower(), got


def test_an_empty_instances_list_is_refused_by_name(server):
    status, body = _exchange(server, _post(PREDICT, b'{"instances": []}'))
    assert status == 400 and "holds no examples" in body["error"]


def test_a_good_request_after_the_bad_ones(server, clip):
    body = json.dumps({"instances": [{"b64": base64.b64encode(clip).decode()}]}).encode()
    status, answer = _exchange(server, _post(PREDICT, body))
    assert status == 200 and set(answer["predictions"][0]) == {"genre", "scores"}


def test_idle_connections_are_closed(server):
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=10) as sock:
        sock.sendall(b"POST " + PREDICT.encode())  # half a request line, then nothing
        start = time.monotonic()
        assert sock.recv(1024) == b""  # the server hung up
        assert time.monotonic() - start < IDLE_SECONDS + 5


def test_a_stalled_body_is_answered_408_and_the_connection_closed(server):
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=10) as sock:
        sock.sendall(_post(PREDICT, b'{"ins', length="100"))  # 5 of 100 bytes, then nothing
        start = time.monotonic()
        status, body = _answer(sock)
        assert status == 408 and "stalled: 5 of 100 bytes" in body["error"]
        assert time.monotonic() - start < IDLE_SECONDS + 5
        assert sock.recv(1024) == b""  # and closed


def test_connections_beyond_the_cap_are_answered_503_and_the_rest_served_later(server):
    held = [socket.create_connection(("127.0.0.1", server.rest_port), timeout=10) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)  # the server has accepted them
        status, body = _exchange(server, b"GET /v1/models/genre-cnn HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 503 and f"{MAX_CONNECTIONS} connections open" in body["error"]
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:
        status, body = _exchange(server, b"GET /v1/models/genre-cnn HTTP/1.1\r\nHost: x\r\n\r\n")
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"
