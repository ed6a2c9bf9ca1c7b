"""``make bench-serving``: latency and throughput of the local TF-Serving-compatible server over gRPC, per family.

Exports the shipped genre-cnn, omr-resnet-bisru, retrieval-gcn and gen-lstm to a temporary models folder, starts
``scorezoo serve`` as a subprocess on 127.0.0.1 (its own process, so client threads do not share its interpreter),
and calls each family's main signature from concurrent gRPC clients, at concurrency 1 and 4, each run bounded by
``--seconds`` and ``--max-requests``: genre on one real 10-second clip, recognition on one staff, the retrieval
embedding on one 2-second excerpt, generation of 10 seconds of music. Target: p99 ≤ 100 ms for the first three.

Usage: python -m benchmarks.serving [--seconds 120] [--max-requests 60000] [--omr-weights pretrained|none|PATH]
       [--only genre recognize embed_audio generate]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import portpicker

import zoo
from benchmarks.report import RESULTS, ROOT, table, write_section
from serving.client import ServingClient, ServingError
from serving.export import export
from zoo import paths

PNG = ROOT / "data" / "fixtures" / "primus" / "000051652-1_2_1.png"
OMR = "omr-resnet-bisru"
RETRIEVAL = "retrieval-gcn"
GENERATION = "gen-lstm"
TARGET_P99_MS = 100.0
GENERATED_SECONDS = 10.0
CASE_NAMES = ("genre", "recognize", "embed_audio", "generate")


def genre_clip(data_dir: Path) -> tuple[bytes, str]:
    """A real 10-second test clip from the built dataset, else one synthesized from a Bach chorale."""
    try:
        from zoo.datasets import tfrecords

        shown = data_dir.resolve().relative_to(ROOT) if data_dir.resolve().is_relative_to(ROOT) else data_dir
        return bytes(next(tfrecords.iter_examples(data_dir, "test", "genre"))["audio"]), f"`{shown}`, test split"
    except (FileNotFoundError, StopIteration):
        from music21 import corpus, midi

        from zoo.datasets import synth
        from zoo.preprocessing import audio

        score = corpus.parse("bach/bwv66.6")
        samples = synth.render_midi(midi.translate.streamToMidiFile(score).writestr(), audio.SAMPLE_RATE)
        samples = samples[: int(audio.CLIP_SECONDS * audio.SAMPLE_RATE)]
        return audio.wav_bytes(samples, audio.SAMPLE_RATE), "bach/bwv66.6 synthesized with FluidSynth"


def start_server(config: Path, port: int) -> subprocess.Popen:
    code = "import sys; from zoo.cli.serving import serve_cmd; serve_cmd(sys.argv[1:])"
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-c", code, "--model-config", str(config), "--port", str(port),
                             "--poll-seconds", "0"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_ready(client: ServingClient, models: list[str], proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            if all(any(s["state"] == "AVAILABLE" for s in client.status(m)) for m in models):
                return
        except ServingError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"server not ready within {timeout} s")


def load_run(target: str, call: Any, concurrency: int, seconds: float, max_requests: int) -> dict[str, Any]:
    """``concurrency`` threads, each with its own channel, calling ``call(client)`` until time or count runs out."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    budget = [max_requests]
    deadline = time.monotonic() + seconds

    def worker() -> None:
        with ServingClient(target, timeout=30) as client:
            call(client)  # warm-up (connection, first-call graph work), not counted
            while time.monotonic() < deadline:
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                t = time.perf_counter()
                try:
                    call(client)
                except ServingError as exc:
                    with lock:
                        errors.append(str(exc))
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {"concurrency": concurrency, "requests": len(latencies), "errors": len(errors),
            "first_errors": errors[:3], "seconds": round(wall, 1),
            "throughput_rps": round(len(latencies) / wall, 1), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p90_ms": round(float(np.percentile(ms, 90)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1)}


@dataclass(frozen=True)
class Case:
    """One family's main signature as a client calls it: ``call(client)`` is one request."""
    name: str
    model: str
    call: Callable[[ServingClient], Any]
    unit: str  # what one request carries, for the table
    target_ms: float | None = TARGET_P99_MS  # p99 target at every concurrency (None: reported only)
    music_seconds: float = 0.0  # seconds of music one request generates (generation: music per wall second)


def cases(clip: bytes, omr_weights: str) -> list[Case]:
    """genre (one 10-s clip), recognition (one staff), retrieval embedding (one 2-s excerpt, the unit a search ranks)
    and generation (10 s of music); recognition with ``omr_weights``."""
    from zoo.preprocessing import audio

    png = PNG.read_bytes()
    excerpt = excerpt_wav(clip, 2.0)
    return [
        Case("genre", "genre-cnn", lambda cl: cl.genre([clip]), f"one {audio.CLIP_SECONDS:g}-s WAV clip"),
        Case("recognize", OMR, lambda cl: cl.recognize([png]), "one staff PNG (PrIMuS fixture)"),
        Case("embed_audio", RETRIEVAL, lambda cl: cl.embed_audio([excerpt]), "one 2-s WAV excerpt"),
        Case("generate", GENERATION, lambda cl: cl.generate("fiddle", seconds=GENERATED_SECONDS, seed=1),
             f"{GENERATED_SECONDS:g} s of fiddle music", target_ms=None, music_seconds=GENERATED_SECONDS),
    ]


def excerpt_wav(wav: bytes, seconds: float) -> bytes:
    """The first ``seconds`` of a WAV clip, as WAV."""
    from zoo.preprocessing import audio

    samples, rate = audio.decode_audio(wav, ("wav",))
    return audio.wav_bytes(samples.numpy()[: int(seconds * int(rate))], int(rate))


def run(data_dir: Path, seconds: float, max_requests: int, omr_weights: str,
        families: tuple[str, ...] | None = None) -> dict[str, Any]:
    clip, clip_source = genre_clip(data_dir)
    chosen = [c for c in cases(clip, omr_weights) if families is None or c.name in families]
    results: dict[str, Any] = {"clip_source": clip_source, "clip_bytes": len(clip), "seconds_per_run": seconds,
                               "max_requests_per_run": max_requests, "omr_weights": omr_weights, "runs": {},
                               "cases": {c.name: {"model": c.model, "unit": c.unit, "target_ms": c.target_ms,
                                                  "music_seconds": c.music_seconds} for c in chosen}}
    with tempfile.TemporaryDirectory(prefix="scorezoo-bench-serving-") as tmp:
        models = Path(tmp) / "models"
        served = sorted({c.model for c in chosen})
        for name in served:
            export(name, models, weights=omr_weights if name == OMR else "pretrained")
        config = Path(tmp) / "models.config"
        config.write_text("model_config_list {\n" + "".join(
            f'  config {{ name: "{m}" base_path: "{models / m}" model_platform: "tensorflow" }}\n'
            for m in served) + "}\n")
        port = portpicker.pick_unused_port()
        target = f"127.0.0.1:{port}"
        proc = start_server(config, port)
        try:
            with ServingClient(target, timeout=30) as probe:
                wait_ready(probe, served, proc)
            for case in chosen:
                for c in (1, 4):
                    key = f"{case.name}_c{c}"
                    results["runs"][key] = {"case": case.name,
                                            **load_run(target, case.call, c, seconds, max_requests)}
                    print(json.dumps({key: results["runs"][key]}), flush=True)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return results


def markdown(r: dict[str, Any]) -> str:
    rows, verdicts = [], []
    for name, v in r["runs"].items():
        case = r["cases"][v["case"]]
        music = (f"{v['throughput_rps'] * case['music_seconds']:.1f} s/s" if case["music_seconds"] else "")
        rows.append([name, case["model"], case["unit"], v["concurrency"], v["requests"], v["errors"],
                     v["throughput_rps"], v["p50_ms"], v["p99_ms"], music])
    for case_name, case in r["cases"].items():
        runs = [v for v in r["runs"].values() if v["case"] == case_name]
        if case["target_ms"] is None or not runs:
            continue
        worst = max(v["p99_ms"] for v in runs)
        errors = sum(v["errors"] for v in runs)
        met = worst <= case["target_ms"] and errors == 0
        verdicts.append(f"- {case_name}: p99 ≤ {case['target_ms']:g} ms at concurrency 1 and 4 with zero errors — "
                        f"{'met' if met else 'NOT met'} (worst p99 {worst} ms, {errors} errors).")
    return "\n".join([
        "## Serving (`make bench-serving`)",
        "",
        f"`scorezoo serve` (the local TF-Serving-compatible gRPC server, its own process) on 127.0.0.1, serving each "
        f"family's shipped model; concurrent gRPC clients (one channel per client thread) calling each family's "
        f"main signature; each run ≤ {r['seconds_per_run']:g} s and ≤ {r['max_requests_per_run']} requests, after "
        f"one warm-up request per client. Audio: {r['clip_source']} ({r['clip_bytes'] / 1000:.0f} kB). Generation "
        "is also given as seconds of music generated per wall-clock second.",
        "",
        table(["run", "model", "one request", "concurrency", "requests", "errors", "requests/s", "p50 ms",
               "p99 ms", "music"], rows),
        "",
        *verdicts,
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=paths.data_dir() / "genre")
    parser.add_argument("--seconds", type=float, default=120.0, help="time budget of each load run")
    parser.add_argument("--max-requests", type=int, default=60000, help="request cap of each load run")
    parser.add_argument("--omr-weights", default="pretrained",
                        help="omr export weights: 'pretrained', 'none' (an untrained model of the same cost) or a path")
    parser.add_argument("--only", nargs="+", choices=CASE_NAMES, help="measure only these signatures")
    args = parser.parse_args()
    zoo.list_models()
    r = run(args.data, args.seconds, args.max_requests, args.omr_weights, tuple(args.only) if args.only else None)
    write_section("bench-serving", markdown(r), r, RESULTS)
    print(markdown(r))


if __name__ == "__main__":
    main()
