"""Custom components of the pipeline.

``AnomalyGate``: TFX's ExampleValidator records anomalies but never fails (nothing downstream reads its output;
cf. tensorflow/tfx-addons#153), so a bad data drop would still be trained on and pushed. The gate reads the
anomalies artifact and fails the run with a readable list; Transform runs after it (``add_upstream_node``), so
nothing is transformed, trained or pushed from data with anomalies.

``OncePusher``: Pusher, except that a model already sitting in a version folder of the push
destination is not copied again. Re-running an unchanged pipeline serves every data and training step from the
cache, but the latest-blessed-model resolver now returns the previous run's model, so Evaluator and Pusher run
again; stock Pusher would then publish the same SavedModel under a new version number.
"""
import hashlib
import os  # no `from __future__ import annotations`: the @component decorator reads real annotations
from typing import Any

from absl import logging
from tfx import v1 as tfx
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

ANOMALIES_FILE = "SchemaDiff.pb"  # what ExampleValidator writes per split (tfx.components.example_validator)


class DataValidationError(RuntimeError):
    """The data does not match the schema; the message lists every anomaly, by split and feature."""


def read_anomalies(artifact: tfx.types.standard_artifacts.ExampleAnomalies) -> dict[str, Any]:
    """``{split: tensorflow_metadata Anomalies proto}`` of an ExampleValidator output artifact."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found = {}
    for split in artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(artifact_utils.get_split_uri([artifact], split), ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        with fileio.open(path, "rb") as f:
            anomalies.ParseFromString(f.read())
        found[split] = anomalies
    return found


def describe_anomalies(by_split: dict[str, Any]) -> list[str]:
    """One line per anomaly reason: ``split 'train', feature 'genre', <REASON>: <description>``."""
    lines = []
    for split, anomalies in by_split.items():
        for feature, info in sorted(anomalies.anomaly_info.items()):
            for reason in info.reason:
                kind = type(info).Type.Name(reason.type)
                lines.append(f"split {split!r}, feature {feature!r}, {kind}: {reason.description}")
        if anomalies.HasField("dataset_anomaly_info"):
            for reason in anomalies.dataset_anomaly_info.reason:
                kind = type(anomalies.dataset_anomaly_info).Type.Name(reason.type)
                lines.append(f"split {split!r}, dataset, {kind}: {reason.description}")
    return lines


@tfx.dsl.components.component
def AnomalyGate(  # noqa: N802 - TFX names components like classes
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
    schema_hint: tfx.dsl.components.Parameter[str] = "",
) -> None:
    """Fail the pipeline run when ExampleValidator found any anomaly; ``schema_hint`` names the schema to review."""
    lines = describe_anomalies(read_anomalies(anomalies))
    if lines:
        hint = f" If the change is intended, review and update the schema ({schema_hint})." if schema_hint else ""
        raise DataValidationError(
            f"Data validation failed: {len(lines)} anomal{'y' if len(lines) == 1 else 'ies'} against the schema; "
            f"nothing was transformed, trained or pushed.{hint}\n  " + "\n  ".join(lines)
        )


def saved_model_digest(model_dir: str) -> str | None:
    """sha256 of a SavedModel's graph and variables index (equal files = the same model), None if not one."""
    digest = hashlib.sha256()
    for name in ("saved_model.pb", os.path.join("variables", "variables.index")):
        path = os.path.join(model_dir, name)
        if not fileio.exists(path):
            return None
        with fileio.open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def find_pushed_version(model_dir: str, base_directory: str) -> str | None:
    """The version folder under ``base_directory`` holding the same SavedModel as ``model_dir``, if any."""
    if not fileio.isdir(base_directory):
        return None
    wanted = saved_model_digest(model_dir)
    if wanted is None:
        return None
    versions = sorted((v.rstrip("/") for v in fileio.listdir(base_directory) if v.rstrip("/").isdigit()), key=int)
    for version in reversed(versions):
        if saved_model_digest(os.path.join(base_directory, version)) == wanted:
            return version
    return None


class OncePusherExecutor(pusher_executor.Executor):
    """Pushes a blessed model unless the destination already serves this very model (see module docstring)."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]],  # noqa: N802
           exec_properties: dict[str, Any]) -> None:
        destination = tfx.proto.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") == "filesystem" and self.CheckBlessing(input_dict):
            model_path = self.GetModelPath(input_dict)
            base = destination.filesystem.base_directory
            version = find_pushed_version(model_path, base)
            if version is not None:
                model_push = artifact_utils.get_single_instance(
                    output_dict[standard_component_specs.PUSHED_MODEL_KEY])
                io_utils.copy_dir(model_path, model_push.uri)  # the archive copy every push keeps
                self._MarkPushed(model_push, pushed_destination=os.path.join(base, version), pushed_version=version)
                model_push.set_int_custom_property("already_pushed", 1)
                logging.info("Model %s is already served as version %s under %s; not pushed again.",
                             model_path, version, base)
                return
        super().Do(input_dict, output_dict, exec_properties)


class OncePusher(tfx.components.Pusher):
    """Pusher with :class:`OncePusherExecutor` (no second version folder for a model already pushed)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(OncePusherExecutor)
