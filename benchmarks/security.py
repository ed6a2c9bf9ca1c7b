"""``make bench-security``: the hardening defects re-run against a running server, and a bounded fuzz run.

Exports genre-cnn and omr-resnet-bisru (shipped weights) to a temporary models folder and starts ``scorezoo serve``
as its own process with the default caps. Each hostile case is sent as an attacker or a careless operator would;
its answer, its time and the server's resident memory before, at peak (``VmHWM``, reset before each case) and after
are recorded, and a good request must still be answered after it. Then hypothesis generates PredictRequests (any
dtype, shape, value count, media header) and REST requests (any method, Content-Length, JSON) for a bounded
number of examples: a failure is an answer outside TF Serving's status codes (UNKNOWN, INTERNAL, HTTP 500, a
non-JSON body), a dropped connection, a time-out, or the server dying.

Usage: python -m benchmarks.security [--fuzz-examples 3000] [--skip-fuzz]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import portpicker
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from benchmarks import hostile
from benchmarks.report import RESULTS, ROOT, table, write_section
from benchmarks.serving import genre_clip, wait_ready
from serving import defaults
from serving.client import ServingClient, ServingError
from serving.export import TEMP_PREFIX, export
from zoo import paths

PNG = ROOT / "data" / "fixtures" / "primus" / "000051652-1_2_1.png"
GRPC_ANSWERS = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                "UNIMPLEMENTED", "OUT_OF_RANGE"}
REST_ANSWERS = {200, 400, 404, 408, 411, 413, 414, 429, 431, 501, 503}


# ------------------------------------------------------------------------------------------------ the server
class Server:
    """``scorezoo serve`` in its own process, with its memory read from /proc."""

    def __init__(self, config: Path, env: dict[str, str] | None = None):
        self.port, self.rest_port = portpicker.pick_unused_port(), portpicker.pick_unused_port()
        code = "import sys; from zoo.cli.serving import serve_cmd; serve_cmd(sys.argv[1:])"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, "--model-config", str(config), "--port", str(self.port),
             "--rest-port", str(self.rest_port), "--poll-seconds", "0.5"],
            cwd=ROOT, env={**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.target = f"127.0.0.1:{self.port}"

    def _status(self, key: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
        return float("nan")

    def rss_mb(self) -> float:
        return round(self._status("VmRSS") / 1024, 1)

    def peak_mb(self) -> float:
        return round(self._status("VmHWM") / 1024, 1)

    def threads(self) -> int:
        return int(self._status("Threads"))

    def reset_peak(self) -> None:
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        except OSError:
            pass

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def predict(target: str, model: str, alias: str, proto: Any, timeout: float = 120) -> tuple[str, str]:
    """(status code name, message or output summary) of one Predict call."""
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 128 << 20)]) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.inputs[alias].CopyFrom(proto)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as exc:
            return exc.code().name, exc.details()
    return "OK", ", ".join(sorted(response.outputs))


def rest(port: int, raw: bytes, timeout: float = 30.0, shut: bool = False) -> tuple[int | str, str]:
    """(HTTP status, error text or 'json') of one raw HTTP exchange; a string status names a transport failure."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            try:
                sock.sendall(raw)
                if shut:
                    sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered before reading everything: its answer is still there to read
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return "closed without an answer", data[:80].decode("latin-1")
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            fields = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if ":" in x)}
            length = int(fields.get("content-length", "0"))
            while len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            status = int(lines[0].split()[1])
            try:
                parsed = json.loads(body[:length])
            except ValueError:
                return status, "NOT JSON: " + body[:60].decode("latin-1")
            return status, parsed.get("error", "json") if isinstance(parsed, dict) else "json"
    except TimeoutError:
        return "timed out", ""
    except OSError as exc:
        return f"transport error: {exc.strerror or exc}", ""


def post(path: str, body: bytes, length: str | None = None) -> bytes:
    size = str(len(body)) if length is None else length
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode() + body


# ------------------------------------------------------------------------------------------------ the cases
def measured(server: Server, name: str, issue_item: int, call: Any, good: Any) -> dict[str, Any]:
    """Run ``call()`` (→ answer text) with the server's memory around it, then check a good request."""
    before = server.rss_mb()
    server.reset_peak()
    start = time.perf_counter()
    answer = call()
    seconds = round(time.perf_counter() - start, 2)
    time.sleep(1.5)  # the trimmer hands memory back one second after a burst
    row = {"item": issue_item, "case": name, "answer": str(answer)[:230], "seconds": seconds,
           "rss_before_mb": before, "peak_mb": server.peak_mb(), "rss_after_mb": server.rss_mb(),
           "alive": server.alive()}
    try:
        row["good_request_after"] = bool(good())
    except ServingError as exc:
        row["good_request_after"] = f"FAILED: {exc}"
    print(json.dumps(row), flush=True)
    return row


def cli(*args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([sys.executable, "-m", "zoo.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)
    lines = [line for line in proc.stdout.strip().splitlines() if line]
    tail = [line for line in proc.stderr.strip().splitlines() if not line.startswith(
        ("20", "  warnings.warn", "/"))][-1:] if proc.returncode else []  # the CLI's message, not TF's log
    return f"exit {proc.returncode}; " + " | ".join(lines + tail)


def run_cases(server: Server, models: Path, clip: bytes, tmp: Path) -> list[dict[str, Any]]:
    png = PNG.read_bytes()
    rows = []
    with ServingClient(server.target, timeout=120) as client:
        def good() -> bool:
            return bool(client.genre([clip])[0]["genre"]) and bool(client.recognize([png])[0]["tokens"])

        def case(name: str, item: int, call: Any) -> None:
            rows.append(measured(server, name, item, call, good))

        # 1. TensorProtos that claim more than they carry
        for name, proto in hostile.tensor_claims(clip).items():
            case(f"gRPC `audio` tensor: {name}", 1, lambda p=proto: predict(server.target, "genre-cnn", "audio", p))
        # 2. image size checked from the header
        bomb = hostile.png_bomb(20000, 20000)
        case(f"gRPC 20000 × 20000 PNG ({len(bomb) / 1000:.0f} KB)", 2,
             lambda: predict(server.target, "omr-resnet-bisru", "image", tf.make_tensor_proto([bomb])))
        (tmp / "bomb.png").write_bytes(bomb)
        case("`scorezoo recognize BOMB.png good.png`", 2,
             lambda: cli("recognize", str(tmp / "bomb.png"), str(PNG)))
        # 3. memory per request, and headers
        second = hostile.wav(1.0)
        case(f"700 one-second clips in one request ({700 * len(second) / 1e6:.0f} MB)", 3,
             lambda: predict(server.target, "genre-cnn", "audio", tf.make_tensor_proto([second] * 700)))

        def burst() -> str:
            batch = tf.make_tensor_proto([second] * defaults.MAX_BATCH)
            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(lambda _: predict(server.target, "genre-cnn", "audio", batch)[0], range(4)))
            return f"{answers.count('OK')} of 4 answered OK"

        case(f"4 clients at once, {defaults.MAX_BATCH} one-second clips each", 3, burst)
        case("WAV whose header says 1 Hz", 3,
             lambda: predict(server.target, "genre-cnn", "audio", tf.make_tensor_proto([hostile.wav_claiming_rate(1)])))
        # 4. versions copied in file by file, and a failed load retried
        case("version 2 copied in file by file over ~3 s", 4, lambda: copy_in(client, models, tmp))
        case("version 3 with a corrupt saved_model.pb, then repaired", 4, lambda: broken_then_fixed(client, models))
        # 5. every shipped file hash-checked, manifests validated
        home = tmp / "home"
        override = home / "pretrained" / "omr-resnet-bisru"
        shutil.copytree(paths.SHIPPED_PRETRAINED_DIR / "omr-resnet-bisru", override)
        vocabulary = bytearray((override / "vocabulary.txt").read_bytes())
        vocabulary[100] ^= 1
        (override / "vocabulary.txt").write_bytes(bytes(vocabulary))
        case("one changed byte in vocabulary.txt, `scorezoo recognize`", 5,
             lambda: cli("recognize", str(PNG), env={"SCOREZOO_HOME": str(home)}))
        manifest = json.loads((override / "manifest.json").read_text())
        manifest["weights"]["sha256"] = 123
        (override / "manifest.json").write_text(json.dumps(manifest))
        case("manifest with `weights.sha256: 123`, `scorezoo recognize`", 5,
             lambda: cli("recognize", str(PNG), env={"SCOREZOO_HOME": str(home)}))
        # 6. CLI batches
        case("`scorezoo recognize DIR missing.png good.png`", 6,
             lambda: cli("recognize", str(tmp), str(tmp / "missing.png"), str(PNG)))
        # 7. killed exports and builds
        case("`scorezoo export` killed while writing, then run again", 7, lambda: killed_export(tmp))
        case("`scorezoo data build genre` killed with its workers busy", 7, lambda: killed_build(tmp))
        # 8. REST
        port = server.rest_port
        predict_path = "/v1/models/genre-cnn:predict"
        for name, raw in [("REST `Content-Length: abc`", post(predict_path, b"{}", "abc")),
                          ("REST `Content-Length: -1`", post(predict_path, b"{}", "-1")),
                          ("REST `signature_name: 5`", post(predict_path, b'{"signature_name": 5, "instances": []}')),
                          ("REST JSON nested 100,000 deep", post(predict_path, b"[" * 100000 + b"]" * 100000)),
                          ("REST `PUT`", b"PUT /v1/models/genre-cnn HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
                          ("REST body over the cap (Content-Length 100 MB)", post(predict_path, b"", str(100 << 20)))]:
            case(name, 8, lambda r=raw: rest(port, r))
        case("REST 300 half-open connections", 8, lambda: half_open(server, 300))
        flac = hostile.flac_claiming_seconds(3.0)
        case("served genre-cnn given FLAC", 8,
             lambda: predict(server.target, "genre-cnn", "audio", tf.make_tensor_proto([flac])))
    return rows


def copy_in(client: ServingClient, models: Path, tmp: Path) -> str:
    source, target = models / "genre-cnn" / "1", models / "genre-cnn" / "2"
    files = sorted((p for p in source.rglob("*") if p.is_file()), key=lambda p: (p.name != "saved_model.pb", str(p)))
    for path in files:
        (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / path.relative_to(source))
        time.sleep(3.0 / len(files))
    deadline = time.monotonic() + 60
    seen = set()
    while time.monotonic() < deadline:
        states = {s["version"]: s["state"] for s in client.status("genre-cnn")}
        seen.add(states.get(2))
        if states.get(2) == "AVAILABLE":
            break
        time.sleep(0.2)
    return f"version 2 states seen: {sorted(s for s in seen if s)}; now {states}"


def broken_then_fixed(client: ServingClient, models: Path) -> str:
    source, target = models / "genre-cnn" / "2", models / "genre-cnn" / "3"
    shutil.copytree(source, target)
    (target / "saved_model.pb").write_bytes((source / "saved_model.pb").read_bytes()[:1000])

    def state() -> dict[str, Any]:
        return next(s for s in client.status("genre-cnn") if s["version"] == 3) if any(
            s["version"] == 3 for s in client.status("genre-cnn")) else {}

    deadline = time.monotonic() + 30
    while state().get("state") != "END" and time.monotonic() < deadline:
        time.sleep(0.2)
    failed = state()
    shutil.copy2(source / "saved_model.pb", target / "saved_model.pb")
    deadline = time.monotonic() + 60
    while state().get("state") != "AVAILABLE" and time.monotonic() < deadline:
        time.sleep(0.2)
    return f"corrupt: {failed.get('state')} ({failed.get('error', '')[:60]}…); repaired: {state().get('state')}"


def killed_export(tmp: Path) -> str:
    out = tmp / "export"
    proc = subprocess.Popen([sys.executable, "-m", "zoo.cli", "export", "genre-cnn", "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not any(out.glob(f"genre-cnn/{TEMP_PREFIX}*/model/*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = sorted(p.name for p in (out / "genre-cnn").iterdir())
    again = cli("export", "genre-cnn", "--out", str(out))
    after = sorted(p.name for p in (out / "genre-cnn").iterdir())
    return f"left after the kill: {left}; export again: {again}; then: {after}"


def killed_build(tmp: Path) -> str:
    out = tmp / "build"
    proc = subprocess.Popen([sys.executable, "-m", "zoo.cli", "data", "build", "genre", "--out", str(out),
                             "--workers", "2"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clips = out / "clips"
    deadline = time.monotonic() + 300
    while not (clips.exists() and sum(1 for _ in clips.rglob("*.wav")) >= 4) and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    count = sum(1 for _ in clips.rglob("*"))
    time.sleep(3.0)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()]
    return (f"{len(workers)} workers; alive 0.5 s after the parent's death: {len(alive)}; files written in the 3 s "
            f"after: {sum(1 for _ in clips.rglob('*')) - count}")


def half_open(server: Server, n: int) -> str:
    before = server.threads()
    socks, refused = [], 0
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", server.rest_port), timeout=10)
        s.sendall(b"POST /v1/models/genre-cnn:predict HTTP/1.1\r\nContent-Length: 10\r\n\r\n")  # then nothing
        socks.append(s)
    time.sleep(1.0)
    held = server.threads()
    for s in socks:
        s.settimeout(0.2)
        try:
            refused += b" 503 " in s.recv(200)
        except OSError:
            pass
    good = rest(server.rest_port, b"GET /v1/models/genre-cnn HTTP/1.1\r\nHost: x\r\n\r\n")[0]
    deadline = time.monotonic() + 90
    while server.threads() > before + 2 and time.monotonic() < deadline:
        time.sleep(1)
    for s in socks:
        s.close()
    return (f"threads {before} → {held} while held ({refused} answered 503 at once); a status request meanwhile: "
            f"{good}; threads {server.threads()} after the idle time-out")


# ------------------------------------------------------------------------------------------------ fuzzing
def fuzz(server: Server, clip: bytes, examples: int) -> dict[str, Any]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from tensorflow.core.framework import tensor_pb2, types_pb2

    png = PNG.read_bytes()
    media = st.one_of(
        st.binary(max_size=300),
        st.sampled_from([clip, png, hostile.gif(), hostile.wav_claiming_rate(1), hostile.png_claiming(9000, 9000),
                         hostile.flac_claiming_seconds(4000)]),
        st.tuples(st.sampled_from([clip, png]), st.integers(0, 10 ** 6), st.integers(0, 255)).map(
            lambda t: t[0][: t[1] % len(t[0])] + bytes([t[2]]) + t[0][t[1] % len(t[0]) + 1:]),  # a byte changed
        st.tuples(st.sampled_from([clip, png]), st.integers(0, 10 ** 6)).map(lambda t: t[0][: t[1] % len(t[0])]),
    )
    dims = st.lists(st.one_of(st.integers(-3, 6), st.integers(0, 2 ** 62)), max_size=4)
    dtypes = st.sampled_from([types_pb2.DT_STRING] * 4 + [types_pb2.DT_FLOAT, types_pb2.DT_INT32, types_pb2.DT_INT64,
                                                         types_pb2.DT_BOOL, types_pb2.DT_HALF, types_pb2.DT_COMPLEX64,
                                                         types_pb2.DT_VARIANT, 0, 99])

    @st.composite
    def tensors(draw: Any) -> Any:
        proto = tensor_pb2.TensorProto(dtype=draw(dtypes))
        if draw(st.booleans()):
            proto.tensor_shape.unknown_rank = True
        for d in draw(dims):
            proto.tensor_shape.dim.add(size=d)
        kind = draw(st.sampled_from(["strings", "floats", "content", "none"]))
        if kind == "strings":
            proto.string_val.extend(draw(st.lists(media, max_size=5)))
        elif kind == "floats":
            proto.float_val.extend(draw(st.lists(st.floats(width=32), max_size=8)))
        elif kind == "content":
            proto.tensor_content = draw(st.binary(max_size=64))
        return proto

    requests = st.tuples(st.sampled_from(["genre-cnn", "omr-resnet-bisru", "nope", ""]),
                         st.sampled_from(["", "serving_default", "x"]),
                         st.dictionaries(st.sampled_from(["audio", "image", "x"]), tensors(), max_size=2),
                         st.one_of(st.none(), st.integers(-1, 4)))
    leaf = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.integers(-2 ** 70, 2 ** 70),
                     st.text(max_size=20), st.builds(lambda b: {"b64": base64.b64encode(b).decode()}, media))
    json_values = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.sampled_from(
                                                                 ["instances", "inputs", "signature_name", "audio",
                                                                  "image", "b64"]), inner, max_size=3)), max_leaves=12)
    bodies = st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200))
    http = st.tuples(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "BREW"]),
                     st.sampled_from(["/v1/models/genre-cnn:predict", "/v1/models/omr-resnet-bisru:predict",
                                      "/v1/models/genre-cnn", "/v1/models/genre-cnn/versions/1:predict",
                                      "/v1/models/genre-cnn/metadata", "/v1/models/nope:classify", "/",
                                      "/v1/" + "a" * 70000,
                                      "/v1/models/genre-cnn/labels/x:predict"]),
                     st.sampled_from(["exact", "missing", "abc", "-1", "0", "99999999999", "short"]), bodies)

    failures: list[str] = []
    counts = {"grpc": 0, "rest": 0}
    peak = [server.rss_mb()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            if server.alive():
                peak[0] = max(peak[0], server.rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    channel = grpc.insecure_channel(server.target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    config = settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))

    @config
    @given(requests)
    def grpc_case(request_parts: Any) -> None:
        name, signature, inputs, version = request_parts
        request = predict_pb2.PredictRequest()
        request.model_spec.name, request.model_spec.signature_name = name, signature
        if version is not None:
            request.model_spec.version.value = version
        for alias, proto in inputs.items():
            request.inputs[alias].CopyFrom(proto)
        counts["grpc"] += 1
        try:
            stub.Predict(request, timeout=60)
        except grpc.RpcError as exc:
            if exc.code().name not in GRPC_ANSWERS:
                failures.append(f"gRPC {exc.code().name}: {exc.details()[:120]}")

    @config
    @given(http)
    def rest_case(parts: Any) -> None:
        method, path, length, body = parts
        size = {"exact": str(len(body)), "missing": None, "short": str(len(body) + 5)}.get(length, length)
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n" + (f"Content-Length: {size}\r\n" if size else "")
        counts["rest"] += 1
        status, text = rest(server.rest_port, head.encode() + b"\r\n" + body, timeout=40, shut=length == "short")
        if method == "HEAD" and status == "closed without an answer":
            return
        if status not in REST_ANSWERS or str(text).startswith("NOT JSON"):
            failures.append(f"REST {method} {path[:40]} (Content-Length {length}): {status} {str(text)[:100]}")

    start = time.perf_counter()
    try:
        grpc_case()
        rest_case()
    finally:
        stop.set()
        channel.close()
    return {"grpc_requests": counts["grpc"], "rest_requests": counts["rest"], "failures": len(failures),
            "first_failures": failures[:10], "seconds": round(time.perf_counter() - start, 1),
            "peak_rss_mb": peak[0], "alive_after": server.alive()}


# ------------------------------------------------------------------------------------------------ report
def markdown(r: dict[str, Any]) -> str:
    rows = [[c["item"], c["case"], c["answer"].replace("|", "\\|").replace("\n", " "), c["seconds"],
             c["rss_before_mb"], c["peak_mb"], c["rss_after_mb"], "yes" if c["good_request_after"] is True else
             c["good_request_after"]] for c in r["cases"]]
    lines = [
        "## Hardening (`make bench-security`)",
        "",
        "`scorezoo serve` with its default caps (batch ≤ "
        f"{defaults.MAX_BATCH} per request, {defaults.MAX_INFLIGHT_MB} MB of estimated work in flight, "
        f"{defaults.MAX_CONNECTIONS} REST connections, {defaults.MAX_MESSAGE_MB} MB messages) in its own process, "
        "serving genre-cnn and omr-resnet-bisru; each case of the hardening issue sent as an attacker would. "
        "Memory is the server's resident size (MB) before, at its peak during the case, and 1.5 s after; "
        "\"good after\": a real clip and a real staff are still answered.",
        "",
        table(["#", "case", "answer", "s", "RSS before", "peak", "after", "good after"], rows),
    ]
    f = r.get("fuzz")
    if f:
        lines += ["", "### Fuzz run", "",
                  f"hypothesis, generation phase only: {f['grpc_requests']} PredictRequests (any dtype, shape, value "
                  f"count; real, truncated, byte-flipped and lying media) and {f['rest_requests']} raw HTTP requests "
                  f"(any method, path, Content-Length, JSON or bytes) in {f['seconds']} s.", "",
                  table(["requests", "failures", "peak RSS MB", "server alive after"],
                        [[f["grpc_requests"] + f["rest_requests"], f["failures"], f["peak_rss_mb"],
                          "yes" if f["alive_after"] else "NO"]])]
        if f["first_failures"]:
            lines += ["", "First failures:", ""] + [f"- `{x}`" for x in f["first_failures"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=paths.data_dir() / "genre")
    parser.add_argument("--fuzz-examples", type=int, default=3000, help="hypothesis examples per protocol")
    parser.add_argument("--skip-fuzz", action="store_true")
    args = parser.parse_args()
    clip, _ = genre_clip(args.data)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="scorezoo-bench-security-") as tmp_name:
        tmp = Path(tmp_name)
        models = tmp / "models"
        for name in ("genre-cnn", "omr-resnet-bisru"):
            export(name, models)
        config = tmp / "models.config"
        config.write_text("model_config_list {\n" + "".join(
            f'  config {{ name: "{m}" base_path: "{models / m}" model_platform: "tensorflow" '
            f"model_version_policy {{ all {{}} }} }}\n" for m in ("genre-cnn", "omr-resnet-bisru")) + "}\n")
        server = Server(config)
        try:
            with ServingClient(server.target, timeout=30) as probe:
                wait_ready(probe, ["genre-cnn", "omr-resnet-bisru"], server.proc)
            results["idle_rss_mb"] = server.rss_mb()
            results["cases"] = run_cases(server, models, clip, tmp)
            if not args.skip_fuzz:
                results["fuzz"] = fuzz(server, clip, args.fuzz_examples)
                print(json.dumps(results["fuzz"]), flush=True)
        finally:
            server.stop()
    write_section("bench-security", markdown(results), results, RESULTS)
    print(markdown(results))


if __name__ == "__main__":
    main()
