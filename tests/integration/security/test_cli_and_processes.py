"""The CLI over bad files, and processes killed half-way: every input gets its own line, and nothing already
written is lost or left half-done."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from benchmarks import hostile
from serving.export import TEMP_PREFIX, export, remove_stale_temporaries
from zoo.cli import main

PNG = "000051652-1_2_1.png"


def _lines(result) -> list[dict]:
    return [json.loads(line) for line in result.output.strip().splitlines()]


def test_recognize_answers_every_input_in_order(tmp_path, primus_fixture):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(hostile.png_bomb(20000, 20000))  # 439 KB claiming 400 million pixels
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    inputs = [bomb, tmp_path, tmp_path / "missing.png", fifo, primus_fixture / PNG]
    result = CliRunner().invoke(main, ["recognize", *map(str, inputs), "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = _lines(result)
    assert [line["file"] for line in lines] == [str(p) for p in inputs]
    assert lines[0]["error"] == "image has 400,000,000 pixels; at most 40,000,000 pixels are accepted"
    assert lines[1]["error"] == f"{tmp_path} is a directory, not a file"
    assert lines[2]["error"] == f"file not found: {tmp_path / 'missing.png'}"
    assert lines[3]["error"] == f"{fifo} is not a regular file"
    assert lines[4]["tokens"][:2] == ["clef-C1", "keySignature-EbM"]


def test_genre_answers_every_input_in_order(tmp_path, clip):
    files = {"slow.wav": hostile.wav_claiming_rate(1), "flac.flac": hostile.flac_claiming_seconds(7200),
             "good.wav": clip, "gif.wav": hostile.gif()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = CliRunner().invoke(main, ["genre", *[str(tmp_path / n) for n in files]])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("error: sample rate is 1 Hz; 4000-192000 Hz is accepted")
    assert lines[1].endswith("error: audio is 7200 s long; at most 1800 s is accepted (split the recording)")
    assert "error" not in lines[2] and lines[2].startswith(str(tmp_path / "good.wav"))
    assert "not a WAV/FLAC/OGG/MP3 file" in lines[3]


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_killed_export_leaves_no_version_and_the_next_export_cleans_up(tmp_path, genre_build):
    code = "import sys; from zoo.cli.serving import export_cmd; export_cmd(sys.argv[1:])"
    proc = subprocess.Popen([sys.executable, "-c", code, "genre-cnn", "--out", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    model_dir = tmp_path / "genre-cnn"
    try:
        _wait_for(lambda: any(model_dir.glob(f"{TEMP_PREFIX}*/model/*")), 180, "the export never started writing")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not [p for p in model_dir.iterdir() if p.name.isdigit()]  # no version, empty or half-written
    assert remove_stale_temporaries(model_dir)  # the dead exporter's folder is recognised as stale
    (model_dir / f"{TEMP_PREFIX}genre-cnn-pid{os.getpid()}-alive").mkdir()  # a live exporter's: kept
    path = export("genre-cnn", tmp_path)
    assert path.name == "1" and (path / "saved_model.pb").is_file()
    assert [p.name for p in model_dir.iterdir() if p.name.startswith(".")] == \
        [f"{TEMP_PREFIX}genre-cnn-pid{os.getpid()}-alive"]


PARENT = """
import multiprocessing as mp, sys, time
from pathlib import Path
from zoo.datasets import lifetime

def write(path):
    while True:
        with open(path, "a") as fh:
            fh.write("x")
        time.sleep(0.02)

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    with ctx.Pool(2, initializer=lifetime.watch_parent) as pool:
        pool.map_async(write, [sys.argv[1] + "-a", sys.argv[1] + "-b"])
        time.sleep(600)
"""


def test_build_workers_end_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(script), str(out)], cwd=Path(__file__).resolve().parents[3])
    files = [Path(f"{out}-a"), Path(f"{out}-b")]
    try:
        _wait_for(lambda: all(f.exists() and f.stat().st_size > 5 for f in files), 60, "workers never wrote")
    finally:
        proc.kill()
        proc.wait(timeout=30)
    time.sleep(1.5)  # the workers look for their parent every second
    sizes = [f.stat().st_size for f in files]
    time.sleep(1.0)
    assert [f.stat().st_size for f in files] == sizes  # nobody writes any more


RETIRING = """
import multiprocessing as mp
from zoo.datasets import lifetime

def square(x):
    return x * x

if __name__ == "__main__":
    with mp.get_context("spawn").Pool(2, maxtasksperchild=2, initializer=lifetime.watch_parent) as pool:
        assert sum(pool.imap_unordered(square, range(40))) == sum(x * x for x in range(40))
    print("closed")
"""


def test_a_pool_whose_workers_retire_closes_after_its_last_task(tmp_path):
    # workers that replace retired ones are started from the pool's helper thread; tying them to that thread
    # (PR_SET_PDEATHSIG) killed them when the pool closed, and Pool.terminate then waited for ever
    script = tmp_path / "retiring.py"
    script.write_text(RETIRING)
    done = subprocess.run([sys.executable, str(script)], cwd=Path(__file__).resolve().parents[3], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "closed", done.stderr[-2000:]
