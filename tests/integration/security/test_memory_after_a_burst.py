"""A server that ran a burst of large requests goes back to its idle size (its own process, as deployed)."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import tensorflow as tf

from benchmarks import hostile
from benchmarks.security import Server, predict
from benchmarks.serving import wait_ready
from serving.client import ServingClient


def test_memory_returns_to_its_idle_level_after_a_burst(models, tmp_path, clip):
    config = tmp_path / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "genre-cnn" base_path: "{models / "genre-cnn"}" '
                      'model_platform: "tensorflow" } }\n')
    server = Server(config)
    try:
        with ServingClient(server.target, timeout=60) as client:
            wait_ready(client, ["genre-cnn"], server.proc)
            for _ in range(3):  # warm: graphs traced, thread pools up
                client.genre([clip])
            time.sleep(1.5)
            idle = server.rss_mb()
            server.reset_peak()
            batch = tf.make_tensor_proto([hostile.wav(1.0, seed=i) for i in range(64)])
            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(lambda _: predict(server.target, "genre-cnn", "audio", batch)[0], range(4)))
            assert answers == ["OK"] * 4
            peak = server.peak_mb()
            deadline = time.monotonic() + 10
            while server.rss_mb() > idle + 150 and time.monotonic() < deadline:
                time.sleep(0.5)
            after = server.rss_mb()
            print(f"idle {idle} MB, peak {peak} MB, after {after} MB")
            assert peak > idle + 250  # the burst did take memory
            assert after <= idle + 150  # and gave it back
            assert client.genre([clip])[0]["genre"]
    finally:
        server.stop()
