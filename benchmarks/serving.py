"""``make bench-serving``: latency and throughput of the local TF-Serving-compatible server over gRPC.

Exports genre-cnn (pretrained) to a temporary models folder, starts ``scorezoo serve`` as a subprocess on 127.0.0.1
(its own process, so client threads do not share its interpreter), and runs concurrent gRPC clients that each send
one real 10-second clip per request, at concurrency 4 and 1, each run bounded by ``--seconds`` and
``--max-requests``. Recognition (one staff PNG) is measured too when an omr model is exportable (shipped weights,
or ``--omr-weights none`` for an untrained model of the same cost).

Usage: python -m benchmarks.serving [--seconds 120] [--max-requests 60000] [--omr-weights pretrained|none|PATH]
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
from pathlib import Path
from typing import Any

import numpy as np
import portpicker

import zoo
from benchmarks.report import RESULTS, ROOT, table, write_section
from serving.client import ServingClient, ServingError
from serving.export import export
from zoo import paths
from zoo.pretrained import WeightsError

PNG = ROOT / "data" / "fixtures" / "primus" / "000051652-1_2_1.png"
OMR = "omr-resnet-bisru"
TARGET_P99_MS = 100.0


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


def run(data_dir: Path, seconds: float, max_requests: int, omr_weights: str) -> dict[str, Any]:
    clip, clip_source = genre_clip(data_dir)
    results: dict[str, Any] = {"clip_source": clip_source, "clip_bytes": len(clip), "seconds_per_run": seconds,
                               "max_requests_per_run": max_requests, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="scorezoo-bench-serving-") as tmp:
        models = Path(tmp) / "models"
        export("genre-cnn", models)
        served = ["genre-cnn"]
        try:
            export(OMR, models, weights=omr_weights)
            served.append(OMR)
            results["omr_weights"] = omr_weights
        except WeightsError as exc:
            results["omr_skipped"] = str(exc)
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
            for c in (4, 1):
                results["runs"][f"genre_c{c}"] = load_run(target, lambda cl: cl.genre([clip]), c, seconds,
                                                          max_requests)
                print(json.dumps({f"genre_c{c}": results["runs"][f"genre_c{c}"]}), flush=True)
            if OMR in served:
                png = PNG.read_bytes()
                results["runs"]["recognize_c1"] = load_run(target, lambda cl: cl.recognize([png]), 1, seconds,
                                                           max_requests)
                print(json.dumps({"recognize_c1": results["runs"]["recognize_c1"]}), flush=True)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return results


def markdown(r: dict[str, Any]) -> str:
    rows = [[name, v["concurrency"], v["requests"], v["errors"], v["throughput_rps"], v["p50_ms"], v["p90_ms"],
             v["p99_ms"]] for name, v in r["runs"].items()]
    g4 = r["runs"]["genre_c4"]
    ok = g4["p99_ms"] <= TARGET_P99_MS and all(v["errors"] == 0 for v in r["runs"].values())
    omr = (f"Recognition: one staff PNG per request, {OMR} exported with weights `{r['omr_weights']}`."
           if "omr_weights" in r else f"Recognition not measured: {r.get('omr_skipped', '')}")
    return "\n".join([
        "## Serving (`make bench-serving`)",
        "",
        f"`scorezoo serve` (local TF-Serving-compatible gRPC server, its own process) on 127.0.0.1; concurrent gRPC "
        f"clients (one channel per client thread) each sending one {r['clip_bytes'] / 1000:.0f} kB ten-second WAV "
        f"clip per Predict request ({r['clip_source']}); each run ≤ {r['seconds_per_run']:g} s and ≤ "
        f"{r['max_requests_per_run']} requests, after one warm-up request per client. {omr}",
        "",
        table(["run", "concurrency", "requests", "errors", "requests/s", "p50 ms", "p90 ms", "p99 ms"], rows),
        "",
        f"- Target: genre p99 ≤ {TARGET_P99_MS:g} ms at concurrency 4 and zero errors — "
        f"{'met' if ok else 'NOT met'} (p99 {g4['p99_ms']} ms, {sum(v['errors'] for v in r['runs'].values())} "
        "errors).",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=paths.data_dir() / "genre")
    parser.add_argument("--seconds", type=float, default=120.0, help="time budget of each load run")
    parser.add_argument("--max-requests", type=int, default=60000, help="request cap of each load run")
    parser.add_argument("--omr-weights", default="pretrained",
                        help="omr export weights: 'pretrained' (skipped if none ship), 'none' or a path")
    args = parser.parse_args()
    zoo.list_models()
    r = run(args.data, args.seconds, args.max_requests, args.omr_weights)
    write_section("bench-serving", markdown(r), r, RESULTS)
    print(markdown(r))


if __name__ == "__main__":
    main()
