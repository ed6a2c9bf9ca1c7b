"""Typed configuration: frozen dataclasses read from and written to plain dicts (manifests, recipe files) and
changed by dotted overrides (``--set train.learning_rate=3e-4``), strictly.

Why strict: a misspelt key used to be accepted silently and saved into the manifest as if it had been used. Here
an unknown key is an error that names the closest keys, and a value must have the field's type.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key or value that does not fit the dataclass; the message names it."""


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass (nested ones included) as a JSON-ready dict; tuples become lists."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """``cls`` from ``data``: missing keys take their defaults; an unknown key or a value of the wrong type is a
    :class:`ConfigError` naming it (and the closest keys there are)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__} must be a mapping of settings, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(_unknown(key, fields, where))
        values[key] = _coerce(hints[key], value, _join(where, key))
    return cls(**values)


def override(config: T, assignments: Iterable[str]) -> T:
    """``config`` with each ``dotted.key=value`` applied; the value is read as JSON where it parses (numbers,
    booleans, lists), else taken as a string."""
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key:
            raise ConfigError(f"{assignment!r} is not KEY=VALUE")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        config = replace(config, key.strip(), value)
    return config


def replace(config: T, dotted: str, value: Any, where: str = "") -> T:
    """``config`` with the field at ``dotted`` (``train.learning_rate``) set to ``value``, type-checked."""
    head, _, rest = dotted.partition(".")
    fields = {f.name: f for f in dataclasses.fields(config)}
    if head not in fields:
        raise ConfigError(_unknown(head, fields, where))
    current = getattr(config, head)
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"{_join(where, head)} is a value, not a group of settings: {dotted!r} names nothing")
        return dataclasses.replace(config, **{head: replace(current, rest, value, _join(where, head))})
    hint = typing.get_type_hints(type(config))[head]
    return dataclasses.replace(config, **{head: _coerce(hint, value, _join(where, head))})


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _unknown(key: str, fields: Mapping[str, Any], where: str) -> str:
    close = difflib.get_close_matches(key, list(fields), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; the settings are {', '.join(fields)}"
    return f"unknown setting {_join(where, key)!r}{hint}"


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """``value`` as ``hint`` (a dataclass, bool, int, float, str, a tuple or list of one type, or an optional of
    these), or a ConfigError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {hint}")
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_dict(hint, value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} takes a list, got {value!r}")
        item = args[0] if args else Any
        items = [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} takes true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} takes a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} takes a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} takes text, got {value!r}")
        return value
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{where} takes a {hint.__name__}, got {value!r}")
    return value
