"""Benchmark bookkeeping: runs carried over, stamps that flag uncommitted changes."""
import subprocess
from pathlib import Path

import pytest

FIXTURE_PNG = "000051652-1_2_1.png"


def test_bench_omr_carries_over_runs_whose_folders_are_gone():
    from benchmarks import omr as bench

    def figures(staves: int, ser: float) -> dict:
        rates = {"ser": ser, "sequence_error_rate": 2 * ser, "sequences": staves, "reference_tokens": 19 * staves,
                 "errors_by_type": {"pitch": 3, "duration": 1}}
        return {"test": rates, "test_distorted": rates}

    seed = {**figures(3739, 0.09), "params": 1.84e6, "training": {"train_seconds": 1328, "epochs": 9}}
    previous = {"measured": "2026-11-25 19:20 UTC", "models": {bench.SEED: seed}}
    assert bench.carried_over(bench.SHIPPED, previous) is None and bench.carried_over(bench.SEED, None) is None
    carried = bench.carried_over(bench.SEED, previous)
    assert carried["carried_over"] == {"measured": "2026-11-25 19:20 UTC", "test_staves": 3739,
                                       "test_tokens": 19 * 3739}
    assert "carried_over" not in previous["models"][bench.SEED]  # the previous results are left as they were
    shipped = {**figures(3743, 0.0093), "params": 1.84e6,
               "training": {"total_train_seconds": 120, "stages": [
                   {"train_seconds": 60, "images_seen": 5},
                   {"train_seconds": 0, "images_seen": 0, "interpolation": {"alpha": 0.5}},
                   {"train_seconds": 60, "images_seen": 7}]}}
    text = bench.markdown({"models": {bench.SEED: carried, bench.SHIPPED: shipped},
                           "layer_step_seconds": {"sru": 0.03, "lstm": 0.08}, "model_step_seconds": {}})
    assert "test split: 3,743 staves" in text  # the split measured now, not the carried-over one
    assert f"| {bench.SEED} † |" in text and f"| {bench.SHIPPED} |" in text
    assert "carried over from the measurement of 2026-11-25 19:20 UTC" in text and "3,739 test staves" in text
    assert "2 min in 2 stages: 1 + 1, and 1 weight interpolation | 12 |" in text


def test_benchmark_stamp_flags_uncommitted_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from benchmarks import report

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    for name in ("weights.h5", "BENCHMARKS.md", "benchmarks/results/bench.json"):
        (tmp_path / name).write_text("a")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "x")
    monkeypatch.setattr(report, "ROOT", tmp_path)
    head = report.commit()
    assert len(head) >= 7 and " " not in head
    (tmp_path / "BENCHMARKS.md").write_text("b")  # results being written do not count
    (tmp_path / "benchmarks/results/bench.json").write_text("b")
    (tmp_path / "untracked.txt").write_text("b")
    assert report.commit() == head
    (tmp_path / "weights.h5").write_text("b")  # measuring weights that are not committed yet does
    assert report.commit() == f"{head} with uncommitted changes"


def test_real_inputs_table_has_the_redrawn_rows():
    from benchmarks import real_inputs

    cell = {"ser": 0.012, "sequence_error_rate": 0.1, "errors": 3, "reference_tokens": 250}
    r = {"staves": 10, "data": "data/cache/staff",
         "models": {m: {label: cell for label in real_inputs.CONDITIONS} for m in real_inputs.MODELS},
         "engravers": {"staves": 9, "failed": {"LilyPond": 1},
                       "models": {m: {row: cell for row in (real_inputs.VEROVIO_ROW, *real_inputs.REDRAWN)}
                                  for m in real_inputs.MODELS}}}
    text = real_inputs.markdown(r)
    assert "### Other engravers, lyrics and markings" in text and "LilyPond 1" in text
    rows = len(real_inputs.CONDITIONS) + 1 + len(real_inputs.REDRAWN)  # + the Verovio row of the subset
    assert text.count("| 1.20 % · 10.0 % | 1.20 % · 10.0 % |") == rows
