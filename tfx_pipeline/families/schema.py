"""Reviewed schemas written from a short list of fields (every family's ``--write-schema``), so that what a family
promises about its data reads as data: types, required presence, string domains and value ranges."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    """One feature of a reviewed schema; every field is required in every example."""

    name: str
    kind: str  # "bytes", "int" or "float"
    domain: Sequence[str] | None = None  # the strings allowed (a named string domain of the same name)
    minimum: float | None = None  # int or float range
    maximum: float | None = None
    sequence: bool = False  # one or more values per example (else exactly one)


def build_schema(fields: Sequence[Field]) -> Any:
    """A ``tensorflow_metadata`` Schema proto of ``fields``."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    kinds = {"bytes": schema_pb2.BYTES, "int": schema_pb2.INT, "float": schema_pb2.FLOAT}
    schema = schema_pb2.Schema()
    for f in fields:
        feature = schema.feature.add(name=f.name, type=kinds[f.kind])
        feature.presence.min_fraction = 1.0
        feature.presence.min_count = 1
        if f.sequence:
            feature.value_count.min = 1
        else:
            feature.shape.dim.add(size=1)
        if f.kind == "int" and (f.minimum is not None or f.maximum is not None):
            if f.minimum is not None:
                feature.int_domain.min = int(f.minimum)
            if f.maximum is not None:
                feature.int_domain.max = int(f.maximum)
        if f.kind == "float" and (f.minimum is not None or f.maximum is not None):
            if f.minimum is not None:
                feature.float_domain.min = float(f.minimum)
            if f.maximum is not None:
                feature.float_domain.max = float(f.maximum)
        if f.domain is not None:
            feature.domain = f.name
            schema.string_domain.add(name=f.name, value=list(f.domain))
    return schema


def schema_text(header: str, fields: Sequence[Field]) -> str:
    """The checked-in ``schema.pbtxt``: a comment header saying what was reviewed, then the proto as text."""
    from google.protobuf import text_format

    return header + text_format.MessageToString(build_schema(fields))


def write_schema_main(family: Any, header: str, fields: Sequence[Field]) -> None:
    """``python -m tfx_pipeline.families.<family> --write-schema``."""
    import argparse

    parser = argparse.ArgumentParser(description=f"Write the {family.name} family's reviewed schema.")
    parser.add_argument("--write-schema", action="store_true")
    if parser.parse_args().write_schema:
        family.schema_path.parent.mkdir(parents=True, exist_ok=True)
        family.schema_path.write_text(schema_text(header, fields), encoding="utf-8")
        print(f"wrote {family.schema_path}")
