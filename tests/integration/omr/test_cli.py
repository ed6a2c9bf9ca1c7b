"""The recognition command line: JSON and MusicXML, evaluate, bad options, test-time augmentation."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

from zoo.datasets import tfrecords

FIXTURE_PNG = "000051652-1_2_1.png"


def test_cli_recognize_json_and_musicxml(primus_fixture, tmp_path):
    from zoo import paths

    # a weights folder given by path (trained: an untrained network reads no staff, which is refused)
    weights = tmp_path / "weights"
    shutil.copytree(paths.SHIPPED_PRETRAINED_DIR / "omr-resnet-bisru", weights)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    scorezoo = Path(sys.executable).with_name("scorezoo")
    result = subprocess.run([str(scorezoo), "recognize", str(bad), str(primus_fixture / FIXTURE_PNG), "--weights",
                             str(weights), "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["file"] == str(bad) and "error" in lines[0]
    assert lines[1]["file"].endswith(FIXTURE_PNG) and isinstance(lines[1]["tokens"], list)


def test_cli_evaluate_scores_a_split_and_names_a_missing_one(staff_build):
    from click.testing import CliRunner

    from zoo.cli import main

    data, _ = staff_build
    split = next(s for s in ("test", "validation", "train") if s in tfrecords.splits_with_records(data, "staff"))
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split", split,
                                       "--limit", "4"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["split"] == split and 0 <= summary["ser"] < 0.5 and "errors_by_type" in summary
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split", "tset"])
    assert result.exit_code != 0 and "'tset' split" in result.output and "found: " in result.output
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split", split,
                                       "--limit", "4", "--width-scale", "1.25"])
    assert result.exit_code == 0, result.output
    stretched = json.loads(result.output)
    assert stretched["width_scale"] == 1.25 and stretched["reference_tokens"] == summary["reference_tokens"]
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split", split,
                                       "--limit", "4", "--tta"])
    assert result.exit_code == 0, result.output
    voted = json.loads(result.output)
    assert voted["tta"] is True and voted["reference_tokens"] == summary["reference_tokens"]
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split", split,
                                       "--limit", "4", "--margin", "0.25"])
    assert result.exit_code == 0, result.output
    loose = json.loads(result.output)  # trimmed back to the ink, so read about as the tight crops
    assert loose["margin"] == 0.25 and loose["ser"] < summary["ser"] + 0.02
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--width-scale", "0"])
    assert result.exit_code != 0 and "--width-scale" in result.output
    subsets = [json.loads(CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split",
                                                    split, "--limit", "2"]).output) for _ in range(2)]
    assert subsets[0]["limit"] == 2 and subsets[0]["sequences"] == 2 and subsets[0] == subsets[1]  # the same two
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--limit", "0"])
    assert result.exit_code != 0 and "--limit" in result.output


def test_cli_refuses_a_negative_beam_width(primus_fixture):
    from click.testing import CliRunner

    from zoo.cli import main

    result = CliRunner().invoke(main, ["recognize", str(primus_fixture / FIXTURE_PNG), "--beam", "-2"])
    assert result.exit_code == 2 and "--beam" in result.output and "-2" in result.output


def test_cli_recognize_with_test_time_augmentation_says_how_many_readings_agree(primus_fixture):
    from click.testing import CliRunner

    from zoo.cli import main

    result = CliRunner().invoke(main, ["recognize", str(primus_fixture / FIXTURE_PNG), "--tta", "--json"])
    assert result.exit_code == 0, result.output
    entry = json.loads(result.output.splitlines()[-1])
    assert entry["tokens"] and 0 < entry["agreement"] <= 1
