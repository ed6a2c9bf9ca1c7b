"""The docs stay manuals: README's command-line reference covers the real CLI, README stays short, and no
lab-notebook "session N" wording comes back (history goes to docs/decisions/)."""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from zoo.cli import main

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_MAX_BYTES = 15_000
SESSION = re.compile(r"\bsessions?\s+\d+", re.IGNORECASE)

def _commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    """(path, command) of every visible command under ``group``, groups included, depth first."""
    found = []
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += _commands(command, path)
    return found


COMMANDS = [("scorezoo", main), *_commands(main, "scorezoo")]


def _long_options(command: click.Command) -> list[str]:
    return sorted({opt for param in command.params if isinstance(param, click.Option)
                   for opt in (*param.opts, *param.secondary_opts) if opt.startswith("--")})


def _cli_section() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"^## Command line\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert found, "README.md has no '## Command line' section"
    return found.group(1)


def test_the_cli_tree_is_walked():
    paths = [path for path, _ in COMMANDS]
    assert "scorezoo data build" in paths and "scorezoo client genre" in paths


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS])
def test_readme_names_every_command(path):
    assert path in _cli_section(), f"README.md's '## Command line' section does not show `{path}`"


@pytest.mark.parametrize("path,command", COMMANDS, ids=[path for path, _ in COMMANDS])
def test_readme_names_every_long_option(path, command):
    section = _cli_section()
    missing = [opt for opt in _long_options(command) if not re.search(rf"{re.escape(opt)}(?![\w-])", section)]
    assert not missing, f"README.md's '## Command line' section does not mention {missing} of `{path}`"


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size:,} bytes; keep it a manual of at most {README_MAX_BYTES:,}"


@pytest.mark.parametrize("name", ["README.md", "BENCHMARKS.md", "data/README.md"])
def test_no_session_log_wording(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    hits = [m.group(0) for m in SESSION.finditer(text)]
    assert not hits, f"{name} says {hits[:3]}: write dates or commits, and put history in docs/decisions/"
