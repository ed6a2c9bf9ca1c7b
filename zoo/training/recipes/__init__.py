"""Training recipes as data: the stages that made a shipped model (train, interpolate, train a sign head), each
written as the settings it ran with, run in order by ``scorezoo recipe run NAME``.

A recipe file (``<name>.json`` here, or any path) names the model, its staff data and its stages. Each stage has
a ``name`` (its run folder under ``--runs``) and one of:

- ``train``: a nested training config (:mod:`zoo.training.configs`), with ``warm_start`` (an earlier stage) and
  ``like`` (an earlier train stage whose settings this one starts from; its own settings go on top);
- ``interpolate``: ``start``, ``end`` (earlier stages) and ``alpha`` (WiSE-FT);
- ``train_signs``: ``start`` and the sign head's ``extra_data``, ``extra_share``, ``staves``, ``epochs``.

Every stage is checked before the first one runs (an unknown setting or a stage that names a later one is an
error). A stage whose run folder already holds a manifest is done and skipped, so a stopped recipe resumes.
Each stage runs in its own process, with a clean TensorFlow state, one after the other.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import config as config_lib
from zoo.training.configs import training_config

RECIPES_DIR = Path(__file__).parent
KINDS = ("train", "interpolate", "train_signs")


class RecipeError(ValueError):
    """A recipe that cannot run as written; the message names the stage and the problem."""


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str
    out: Path
    command: list[str]  # the scorezoo command line (without the program) this stage runs
    settings: dict[str, Any]  # a train stage's full nested config (written to --config), else {}


def available() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.json"))


def read(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.is_file():
        path = RECIPES_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise RecipeError(f"no recipe {name_or_path!r}: give a JSON file or one of {', '.join(available())}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecipeError(f"{path} is not JSON: {exc}") from None


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def plan(recipe: dict[str, Any], runs: Path, data: Path | None = None) -> list[Stage]:
    """The recipe's stages as commands, every setting checked, in order."""
    model = recipe.get("model")
    if not isinstance(model, str):
        raise RecipeError("a recipe names its 'model'")
    data_dir = str(data or recipe.get("data") or "")
    seen: dict[str, dict[str, Any] | None] = {}  # stage name → its train settings (None: not a train stage)

    def earlier(stage: str, ref: Any, what: str) -> str:
        if ref not in seen:
            raise RecipeError(f"stage {stage!r}: {what} {ref!r} is not an earlier stage")
        return str(runs / ref)

    stages = []
    for entry in recipe.get("stages", []):
        name = entry.get("name")
        kinds = [k for k in KINDS if k in entry]
        if not isinstance(name, str) or not name or name in seen or len(kinds) != 1:
            raise RecipeError(f"stage {name!r}: each stage needs a new name and one of {', '.join(KINDS)}")
        unknown = set(entry) - {"name", "warm_start", "like", *KINDS}
        if unknown:
            raise RecipeError(f"stage {name!r}: unknown field(s) {', '.join(sorted(unknown))}")
        kind, body, out = kinds[0], entry[kinds[0]], runs / name
        settings: dict[str, Any] = {}
        if kind == "train":
            if "like" in entry:
                earlier(name, entry["like"], "like")
                if seen[entry["like"]] is None:
                    raise RecipeError(f"stage {name!r}: like {entry['like']!r} is not a train stage")
            settings = _merge(seen.get(entry.get("like")) or {}, body)
            try:
                settings = config_lib.to_dict(training_config(model, base=settings))
            except config_lib.ConfigError as exc:
                raise RecipeError(f"stage {name!r}: {exc}") from None
            command = ["train", model, "--out", str(out), "--config", str(out / "recipe-stage.json")]
            if data_dir:
                command += ["--data", data_dir]
            if "warm_start" in entry:
                command += ["--warm-start", earlier(name, entry["warm_start"], "warm_start")]
        elif kind == "interpolate":
            if not isinstance(body.get("alpha"), (int, float)) or not 0 <= body["alpha"] <= 1:
                raise RecipeError(f"stage {name!r}: interpolate needs an alpha between 0 and 1")
            command = ["interpolate", model, earlier(name, body.get("start"), "start"),
                       earlier(name, body.get("end"), "end"), "--alpha", str(body["alpha"]), "--out", str(out)]
        else:
            command = ["train-signs", model, earlier(name, body.get("start"), "start"), "--out", str(out)]
            if data_dir:
                command += ["--data", data_dir]
            extras, shares = body.get("extra_data", []), body.get("extra_share", [])
            if len(extras) != len(shares):
                raise RecipeError(f"stage {name!r}: one extra_share per extra_data folder")
            for folder, share in zip(extras, shares):
                command += ["--extra-data", str(folder), "--extra-share", str(share)]
            for key in ("staves", "epochs", "learning_rate", "threshold", "seed"):
                if key in body:
                    command += ["--" + key.replace("_", "-"), str(body[key])]
        seen[name] = settings if kind == "train" else None
        stages.append(Stage(name, kind, out, command, settings))
    if not stages:
        raise RecipeError("the recipe has no stages")
    return stages


def run(stages: list[Stage], until: str | None = None, echo=print) -> list[str]:
    """Run the stages not yet done, in order (up to and including ``until``); returns the names run."""
    done = []
    for stage in stages:
        if (stage.out / "manifest.json").is_file():
            echo(f"== {stage.name}: done ({stage.out})")
        else:
            if stage.settings:
                stage.out.mkdir(parents=True, exist_ok=True)
                (stage.out / "recipe-stage.json").write_text(json.dumps(stage.settings, indent=2) + "\n")
            echo(f"== {stage.name}: scorezoo {' '.join(stage.command)}")
            subprocess.run([sys.executable, "-m", "zoo.cli", *stage.command], check=True)
            done.append(stage.name)
        if stage.name == until:
            break
    return done
