"""Run a family's pipeline on this machine: LocalDagRunner, SQLite ML Metadata, Beam DirectRunner, caching on.

``python -m tfx_pipeline.local_runner genre --data DIR`` or ``scorezoo pipeline run genre``. Everything goes under
one work dir: ``pipelines/scorezoo-<family>/`` (artifacts) and ``metadata/scorezoo-<family>/metadata.db``; the
blessed model is pushed to ``serving/models/<model-name>/<version>/``.
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfx_pipeline import configs


@dataclass(frozen=True)
class RunSummary:
    pipeline_name: str
    run_id: str
    states: dict[str, str]  # component id → MLMD execution state (COMPLETE, CACHED, FAILED, ...)
    pushed: str | None  # the version folder serving this run's model, when it was blessed and pushed
    pushed_before: bool  # True when that folder was already there (an unchanged re-run): nothing was copied
    blessed: bool | None  # Evaluator's verdict, when it ran
    seconds: float
    model: str | None = None  # URI of the Trainer's model artifact (its SavedModel is under Format-Serving/)
    evaluation: str | None = None  # URI of the Evaluator's evaluation (tfma.load_eval_result/load_validation_result)


def run(
    family: str,
    data_root: str | os.PathLike,
    workdir: str | os.PathLike = configs.DEFAULT_WORKDIR,
    serving_dir: str | os.PathLike | None = None,
    train_steps: int | None = None,
    eval_steps: int = configs.EVAL_STEPS,
    schema_path: str | os.PathLike | None = None,
    warm_start: bool | str = False,
    beam_pipeline_args: list[str] | None = None,
    **pipeline_kwargs: Any,
) -> RunSummary:
    """Build and run the pipeline of ``family``; returns what each component did (raises if one failed)."""
    from tfx import v1 as tfx

    from tfx_pipeline.pipeline import create_pipeline

    metadata = configs.metadata_path(workdir, family)
    if schema_path is not None and str(schema_path) != "reviewed":
        schema_path = Path(schema_path).resolve()
        if not schema_path.is_file():
            raise FileNotFoundError(f"Schema file not found: {schema_path}")
    if not (Path(data_root) / "tfrecords").is_dir():
        raise FileNotFoundError(f"No tfrecords/ folder in {data_root}: build the dataset first "
                                f"(scorezoo data build <dataset> --out {data_root})")
    pipeline = create_pipeline(
        family, data_root=Path(data_root).resolve(), pipeline_root=configs.pipeline_root(workdir, family).resolve(),
        serving_dir=serving_dir, metadata_path=metadata, train_steps=train_steps, eval_steps=eval_steps,
        schema_path=schema_path, warm_start=warm_start,
        beam_pipeline_args=beam_pipeline_args or list(configs.DEFAULT_BEAM_PIPELINE_ARGS), **pipeline_kwargs,
    )
    start = time.perf_counter()
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return summarize(metadata, pipeline.pipeline_info.pipeline_name, seconds=time.perf_counter() - start)


def summarize(metadata_path: str | os.PathLike, pipeline_name: str, run_id: str | None = None,
              seconds: float = 0.0) -> RunSummary:
    """What the latest (or the given) run did, read back from ML Metadata."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    from tfx import v1 as tfx

    store = metadata_store.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        str(metadata_path)))
    runs = [c for c in store.get_contexts_by_type("pipeline_run")
            if run_id is None or c.name == run_id]
    runs = [c for c in runs if _belongs(store, c, pipeline_name)]
    if not runs:
        raise LookupError(f"No run of {pipeline_name!r} recorded in {metadata_path}")
    latest = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    states, pushed, pushed_before, blessed, model, evaluation = {}, None, False, None, None, None
    for execution in sorted(store.get_executions_by_context(latest.id), key=lambda e: e.id):
        node = _node_id(store, execution.id, pipeline_name)
        states[node] = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
        if node == "Trainer":
            model = _output_uri(store, execution.id, "Model")
        if node == "Evaluator":
            value = _output_property(store, execution.id, "blessed")
            blessed = None if value is None else bool(value.int_value)
            evaluation = _output_uri(store, execution.id, "ModelEvaluation")
        if node == "Pusher":
            value = _output_property(store, execution.id, "pushed")
            if value is not None and value.int_value:
                pushed = _output_property(store, execution.id, "pushed_destination").string_value
                pushed_before = _output_property(store, execution.id, "already_pushed") is not None
    return RunSummary(pipeline_name, latest.name, states, pushed, pushed_before, blessed, seconds, model, evaluation)


def _belongs(store: Any, run_context: Any, pipeline_name: str) -> bool:
    executions = store.get_executions_by_context(run_context.id)
    if not executions:
        return False
    contexts = store.get_contexts_by_execution(executions[0].id)
    return any(c.name == pipeline_name for c in contexts)


def _node_id(store: Any, execution_id: int, pipeline_name: str) -> str:
    for context in store.get_contexts_by_execution(execution_id):
        if context.name.startswith(pipeline_name + "."):
            return context.name[len(pipeline_name) + 1:]
    return f"execution-{execution_id}"


def _output_property(store: Any, execution_id: int, key: str) -> Any:
    """A custom property of an output artifact of the execution (e.g. ModelBlessing's ``blessed``), or None."""
    from ml_metadata.proto import metadata_store_pb2

    ids = [e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
           if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)]
    for artifact in store.get_artifacts_by_id(ids):
        if key in artifact.custom_properties:
            return artifact.custom_properties[key]
    return None


def _output_uri(store: Any, execution_id: int, type_name: str) -> str | None:
    """The URI of the execution's output artifact of the given type (e.g. "ModelEvaluation"), or None."""
    from ml_metadata.proto import metadata_store_pb2

    ids = [e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
           if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)]
    types = {t.id: t.name for t in store.get_artifact_types()}
    for artifact in store.get_artifacts_by_id(ids):
        if types.get(artifact.type_id) == type_name:
            return artifact.uri
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("family")
    parser.add_argument("--data", required=True, help="built dataset folder (holding tfrecords/)")
    parser.add_argument("--workdir", default=str(configs.DEFAULT_WORKDIR))
    parser.add_argument("--steps", type=int, default=None, help="Trainer steps [default: the family's]")
    parser.add_argument("--schema", default=None, help="reviewed schema.pbtxt, or 'reviewed' for the checked-in one")
    parser.add_argument("--warm-start", action="store_true")
    args, beam_args = parser.parse_known_args(argv)
    summary = run(args.family, args.data, args.workdir, train_steps=args.steps, schema_path=args.schema,
                  warm_start=args.warm_start, beam_pipeline_args=beam_args or None)
    print(summary)


if __name__ == "__main__":
    main()
