"""The ``scorezoo`` console script, run as users run it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import zoo

SCOREZOO = Path(sys.executable).with_name("scorezoo")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCOREZOO), *args], capture_output=True, text=True, env=os.environ.copy(), timeout=300)


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert zoo.__version__ in result.stdout


def test_models_json_lists_every_registered_model():
    result = run("models", "--json")
    assert result.returncode == 0, result.stderr
    models = json.loads(result.stdout)
    assert [m["name"] for m in models] == zoo.list_models()
    for m in models:
        assert set(m) >= {"name", "task", "pretrained", "input_spec"}
