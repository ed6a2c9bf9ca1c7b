"""Compile a family's pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines (KubeflowV2DagRunner); no cluster.

``python -m tfx_pipeline.kubeflow_runner genre --output pipeline.json --image IMAGE --pipeline-root gs://...`` or
``scorezoo pipeline compile genre ...``. Every step runs in ``IMAGE`` (built from ``Dockerfile.pipeline``), which
has scorezoo installed, so ``preprocessing_fn``, ``run_fn`` and the custom components import from it. Beam steps
run DirectRunner inside their pod unless ``beam_pipeline_args`` name another runner (e.g. Dataflow).
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfx_pipeline import configs

IMAGE_PROJECT_DIR = "/pipeline"  # where Dockerfile.pipeline copies the project


def image_schema_path(family: str) -> str:
    """The checked-in reviewed schema of ``family`` as seen inside the pipeline image."""
    return f"{IMAGE_PROJECT_DIR}/tfx_pipeline/schemas/{family}/schema.pbtxt"


def compile_pipeline(
    family: str,
    output: str | Path,
    image: str = configs.DEFAULT_IMAGE,
    pipeline_root: str = "gs://scorezoo-pipelines/root",
    data_root: str | None = None,
    serving_dir: str | None = None,
    schema_path: str | None = "reviewed",
    train_steps: int | None = None,
    eval_steps: int = configs.EVAL_STEPS,
    beam_pipeline_args: Sequence[str] | None = None,
    **pipeline_kwargs: Any,
) -> dict[str, Any]:
    """Write the PipelineJob JSON to ``output`` and return it.

    ``data_root`` defaults to ``<pipeline_root>/data/<family>`` and ``serving_dir`` to
    ``<pipeline_root>/serving/models/<model-name>``; the reviewed schema (``schema_path="reviewed"``) is read from
    the image. Pass ``schema_path=None`` to infer one with SchemaGen instead.
    """
    from tfx import v1 as tfx

    from tfx_pipeline.families import get_family
    from tfx_pipeline.pipeline import create_pipeline

    spec = get_family(family)
    root = pipeline_root.rstrip("/")
    pipeline = create_pipeline(
        spec,
        data_root=data_root or f"{root}/data/{spec.name}",
        pipeline_root=root,
        serving_dir=serving_dir or f"{root}/serving/models/{spec.model_name}",
        metadata_path=None,  # KFP brings its own ML Metadata
        train_steps=train_steps,
        eval_steps=eval_steps,
        schema_path=image_schema_path(spec.name) if schema_path == "reviewed" else schema_path,
        beam_pipeline_args=list(beam_pipeline_args or configs.DEFAULT_BEAM_PIPELINE_ARGS),
        **pipeline_kwargs,
    )
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=str(output.parent),
        output_filename=output.name,
    )
    runner.run(pipeline, write_out=True)
    job = json.loads(output.read_text())
    # Vertex AI takes the PipelineJob as written (aiplatform.PipelineJob(template_path=...)); a Kubeflow Pipelines
    # cluster takes the PipelineSpec inside it (kfp.Client().create_run_from_pipeline_package(...)).
    kfp_spec_path(output).write_text(json.dumps(job["pipelineSpec"], indent=2), encoding="utf-8")
    return job


def kfp_spec_path(output: str | Path) -> Path:
    """Where :func:`compile_pipeline` writes the bare PipelineSpec for a Kubeflow Pipelines cluster."""
    output = Path(output)
    return output.with_name(f"{output.stem}.kfp.json")


def task_names(pipeline_job: dict[str, Any]) -> list[str]:
    """The task (component) names of a compiled PipelineJob, in the order they appear."""
    return list(pipeline_job["pipelineSpec"]["root"]["dag"]["tasks"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("family")
    parser.add_argument("--output", required=True)
    parser.add_argument("--image", default=configs.DEFAULT_IMAGE)
    parser.add_argument("--pipeline-root", default="gs://scorezoo-pipelines/root")
    parser.add_argument("--data", default=None)
    parser.add_argument("--steps", type=int, default=None, help="Trainer steps [default: the family's]")
    args, beam_args = parser.parse_known_args(argv)
    job = compile_pipeline(args.family, args.output, image=args.image, pipeline_root=args.pipeline_root,
                           data_root=args.data, train_steps=args.steps, beam_pipeline_args=beam_args or None)
    print(f"{args.output}: {', '.join(task_names(job))}")


if __name__ == "__main__":
    main()
