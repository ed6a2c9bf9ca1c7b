"""``scorezoo pipeline run|compile``: the TFX pipeline (``tfx_pipeline``), locally or compiled for Kubeflow."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from zoo import paths

# keys of tfx_pipeline.families.FAMILIES (listed here so --help does not import TFX)
FAMILY_CHOICES = ("genre", "omr", "retrieval", "generation")


@click.group()
def pipeline() -> None:
    """Validate data, train, evaluate and push a model family with TFX."""


@pipeline.command("run")
@click.argument("family", type=click.Choice(FAMILY_CHOICES))
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Built dataset folder holding tfrecords/ [default: <data dir>/<dataset>].")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Pipeline outputs and ML Metadata [default: workdir/tfx of the checkout].")
@click.option("--serving-dir", type=click.Path(path_type=Path), default=None,
              help="Push destination (TF Serving base path) [default: serving/models/<model-name>].")
@click.option("--steps", type=int, default=None, help="Training steps [default: the family's train_steps].")
@click.option("--schema", default=None,
              help="Reviewed schema.pbtxt, or 'reviewed' for the checked-in one [default: infer with SchemaGen].")
@click.option("--warm-start", is_flag=True, help="Start from the shipped pretrained weights.")
@click.option("--no-cache", is_flag=True, help="Re-execute every component.")
@click.option("--beam-arg", "beam_args", multiple=True,
              help="Beam pipeline option, repeatable (e.g. --beam-arg=--direct_num_workers=2).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def run_cmd(family: str, data_dir: Path | None, workdir: Path | None, serving_dir: Path | None, steps: int | None,
            schema: str | None, warm_start: bool, no_cache: bool, beam_args: tuple[str, ...], as_json: bool) -> None:
    """Run FAMILY's pipeline on this machine (LocalDagRunner, Beam DirectRunner); cached steps are reused."""
    from tfx_pipeline import configs, local_runner
    from tfx_pipeline.families import get_family

    spec = get_family(family)
    try:
        summary = local_runner.run(
            family, data_dir or paths.data_dir() / spec.dataset, workdir or configs.DEFAULT_WORKDIR,
            serving_dir=serving_dir, train_steps=steps, schema_path=schema,
            warm_start=warm_start, enable_cache=not no_cache, beam_pipeline_args=list(beam_args) or None,
        )
    except (FileNotFoundError, RuntimeError) as exc:  # missing data/schema/weights, data validation failures
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(asdict(summary), indent=2))
        return
    for component, state in summary.states.items():
        click.echo(f"{component:<32} {state}")
    verdict = {True: "blessed", False: "NOT blessed (below threshold)", None: "not evaluated"}[summary.blessed]
    pushed = summary.pushed or "nothing pushed"
    click.echo(f"model: {verdict}; serving: {pushed}{' (already there)' if summary.pushed_before else ''}")


@pipeline.command("compile")
@click.argument("family", type=click.Choice(FAMILY_CHOICES))
@click.option("--output", type=click.Path(path_type=Path), required=True, help="PipelineJob JSON to write.")
@click.option("--image", default=None, help="Container image built from Dockerfile.pipeline.")
@click.option("--pipeline-root", default="gs://scorezoo-pipelines/root", show_default=True,
              help="Artifact root URI the pipeline writes to.")
@click.option("--data", "data_uri", default=None,
              help="Dataset URI holding tfrecords/ [default: <root>/data/<family>].")
@click.option("--steps", type=int, default=None, help="Training steps [default: the family's train_steps].")
@click.option("--beam-arg", "beam_args", multiple=True,
              help="Beam pipeline option for the Beam steps, repeatable (e.g. --beam-arg=--runner=DataflowRunner).")
def compile_cmd(family: str, output: Path, image: str | None, pipeline_root: str, data_uri: str | None,
                steps: int | None, beam_args: tuple[str, ...]) -> None:
    """Compile FAMILY's pipeline for Kubeflow Pipelines v2 / Vertex AI (no cluster needed)."""
    from tfx_pipeline import configs, kubeflow_runner

    job = kubeflow_runner.compile_pipeline(family, output, image=image or configs.DEFAULT_IMAGE,
                                           pipeline_root=pipeline_root, data_root=data_uri,
                                           train_steps=steps,
                                           beam_pipeline_args=list(beam_args) or None)
    click.echo(f"{output}: {', '.join(kubeflow_runner.task_names(job))}")
    click.echo(f"{kubeflow_runner.kfp_spec_path(output)}: its PipelineSpec, for a Kubeflow Pipelines cluster")
