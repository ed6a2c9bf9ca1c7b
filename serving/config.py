"""Read TF Serving's model config (``models.config``, a text ``ModelServerConfig``) for the local server.

Base paths: absolute paths are used as they are, except that ``model_base`` (``--model-base DIR``) maps the
container prefix ``/models`` to a local folder; relative paths are relative to the config file's folder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

DEFAULT_CONFIG = Path(__file__).resolve().parent / "models.config"
CONTAINER_PREFIX = "/models"


class ConfigError(ValueError):
    """The model config file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class VersionPolicy:
    """TF Serving's ``ServableVersionPolicy``: ``latest`` N (default 1), ``all``, or ``specific`` versions."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: list[int]) -> list[int]:
        """The versions to serve among the ``available`` ones on disk."""
        available = sorted(available)
        if self.kind == "all":
            return available
        if self.kind == "specific":
            return [v for v in available if v in self.versions]
        return available[-self.num_versions:] if self.num_versions > 0 else []


@dataclass(frozen=True)
class ModelEntry:
    name: str
    base_path: Path
    platform: str = "tensorflow"
    policy: VersionPolicy = field(default_factory=VersionPolicy)
    labels: dict[str, int] = field(default_factory=dict)


def parse(text: str, source: str = "<string>") -> model_server_config_pb2.ModelServerConfig:
    try:
        return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as exc:
        raise ConfigError(f"{source}: not a valid TF Serving model config (ModelServerConfig text proto): {exc}") \
            from exc


def resolve_base_path(base_path: str, config_dir: Path, model_base: str | Path | None = None) -> Path:
    if model_base is not None and (base_path == CONTAINER_PREFIX or base_path.startswith(CONTAINER_PREFIX + "/")):
        return Path(model_base).resolve() / base_path[len(CONTAINER_PREFIX):].lstrip("/")
    path = Path(base_path)
    return path if path.is_absolute() else (config_dir / path).resolve()


def load(path: str | Path = DEFAULT_CONFIG, model_base: str | Path | None = None) -> list[ModelEntry]:
    """The models of a config file, in file order."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read model config {path}: {exc.strerror or exc}") from exc
    return entries(parse(text, str(path)), path.resolve().parent, model_base)


def entries(config: model_server_config_pb2.ModelServerConfig, config_dir: Path,
            model_base: str | Path | None = None) -> list[ModelEntry]:
    if config.WhichOneof("config") != "model_config_list":
        raise ConfigError("Only model_config_list configs are supported (not custom_model_config).")
    out: list[ModelEntry] = []
    for c in config.model_config_list.config:
        if not c.name or not c.base_path:
            raise ConfigError(f"Every config needs a name and a base_path; got {text_format.MessageToString(c)!r}")
        if c.name in {e.name for e in out}:
            raise ConfigError(f"Model {c.name!r} is configured twice.")
        platform = c.model_platform or "tensorflow"
        if platform != "tensorflow":
            raise ConfigError(f"Model {c.name!r}: model_platform {platform!r} is not supported (only 'tensorflow').")
        p = c.model_version_policy
        kind = p.WhichOneof("policy_choice") or "latest"
        policy = VersionPolicy(kind=kind, num_versions=(p.latest.num_versions or 1) if kind == "latest" else 1,
                               versions=tuple(p.specific.versions) if kind == "specific" else ())
        out.append(ModelEntry(c.name, resolve_base_path(c.base_path, config_dir, model_base), platform, policy,
                              dict(c.version_labels)))
    return out
