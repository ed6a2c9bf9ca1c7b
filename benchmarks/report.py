"""Write a benchmark's section of BENCHMARKS.md (between its markers) and its JSON results."""
from __future__ import annotations

import json
import platform
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
RESULTS = ROOT / "benchmarks" / "results"
# what a benchmark writes: changes there do not make a measurement "with uncommitted changes"
_OUTPUTS = tuple(f":!{path.relative_to(ROOT)}" for path in (RESULTS, BENCHMARKS_MD))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import os

    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def commit() -> str:
    """HEAD, flagged when tracked files other than the results differ from it (e.g. new weights not yet committed)."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        changed = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *_OUTPUTS)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} with uncommitted changes" if changed else head


def stamp() -> str:
    """When, at which commit and on what a measurement is taken."""
    return f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC at commit {commit()} on {machine()}"


def _section(name: str) -> re.Pattern[str]:
    return re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S)


def section_stamp(name: str) -> str | None:
    """The stamp of the section BENCHMARKS.md holds now (when its figures were measured), if any."""
    text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else ""
    found = _section(name).search(text)
    measured = found and re.search(r"_Measured (.+?)\._", found.group(0))
    return measured.group(1) if measured else None


def write_section(name: str, markdown: str, results: dict[str, Any], out_dir: Path) -> None:
    """Replace the ``<!-- name:start -->…<!-- name:end -->`` block of BENCHMARKS.md and save the JSON."""
    measured = results.get("measured") or stamp()
    block = f"<!-- {name}:start -->\n_Measured {measured}._\n\n{markdown.strip()}\n<!-- {name}:end -->"
    text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    pattern = _section(name)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(text, encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
