"""The pipeline as one function of its inputs (the TFX penguin template's ``create_pipeline``), for every family.

ImportExampleGen → StatisticsGen → SchemaGen | ImportSchemaGen → ExampleValidator → AnomalyGate → Transform →
Trainer → Evaluator (vs. the latest blessed model) → Pusher (one version folder per distinct model).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from tfx_pipeline import configs
from tfx_pipeline.components import AnomalyGate, OncePusher
from tfx_pipeline.families import EXAMPLES_SIGNATURE, TRANSFORM_SIGNATURE, FamilySpec, get_family

RANK_HISTOGRAM_BUCKETS = 4096  # distinct values of a string feature kept in the statistics (above every domain)
TFRECORDS_DIR = "tfrecords"  # <data_root>/tfrecords/<split>/<dataset>-NNNNN.tfrecord (zoo.datasets.tfrecords)


def _join(root: str | os.PathLike, *parts: str) -> str:
    """Path or URI join that keeps ``gs://`` and friends intact."""
    return "/".join([str(root).rstrip("/"), *parts])


def input_config(spec: FamilySpec) -> tfx.proto.Input:
    """One ImportExampleGen split per dataset split, from the folders the zoo's dataset builders write."""
    return tfx.proto.Input(splits=[tfx.proto.Input.Split(name=s, pattern=spec.split_pattern(s)) for s in spec.splits])


def eval_config(spec: FamilySpec, bound: float | None = None, max_regression: float | None = None
                ) -> tfma.EvalConfig:
    """TFMA: the family metric on the eval split, blessed at ``bound`` (a floor, or a ceiling for an error rate)
    and at most ``max_regression`` worse than the latest blessed model (the change threshold is skipped on the
    first run, when there is no baseline). The family's ``reported_metrics`` are computed beside it, not gated.

    The thresholds gate the overall slice only; the per-``slice_keys`` slices (e.g. one genre, ~40 clips) are
    computed and reported, not gated. A plain ``MetricConfig.threshold`` would apply to every slice of every
    slicing spec: one weak genre (renaissance at 0.17 while overall was 0.81) failed the whole model, and a
    one-point ``max_regression`` on a slice of 36 clips (one clip = 2.8 points) would be noise.
    """
    bound = spec.metric_bound if bound is None else bound
    max_regression = spec.metric_max_regression if max_regression is None else max_regression
    if spec.higher_is_better:
        value = tfma.GenericValueThreshold(lower_bound={"value": bound})
        change = tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                                             absolute={"value": -max_regression - 1e-10})
    else:
        value = tfma.GenericValueThreshold(upper_bound={"value": bound})
        change = tfma.GenericChangeThreshold(direction=tfma.MetricDirection.LOWER_IS_BETTER,
                                             absolute={"value": max_regression + 1e-10})
    threshold = tfma.MetricThreshold(value_threshold=value, change_threshold=change)
    module = {"module": spec.metric_module} if spec.metric_module else {}
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=EXAMPLES_SIGNATURE,  # serialized tf.Example → the model's outputs
            preprocessing_function_names=[TRANSFORM_SIGNATURE],  # gives TFMA the transformed label
            label_key=spec.eval_label_key or spec.transformed_label_key,
            prediction_key=spec.prediction_key,
            # Loaded as a plain SavedModel and called through its signatures. Left unset, TFMA 0.47 loads the Keras
            # model once just to detect "tf_keras", again to evaluate, and adds the compiled loss/accuracy: it works,
            # but took twice as long on the tiny build, and the blessing metric is the one configured here anyway.
            model_type=tfma.TF_GENERIC,
        )],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[k]) for k in spec.slice_keys],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(class_name=spec.metric, per_slice_thresholds=[
                tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)], **module),
            *(tfma.MetricConfig(class_name=name, **module) for name in spec.reported_metrics),
        ])],
    )


def create_pipeline(
    family: str | FamilySpec,
    data_root: str | os.PathLike,
    pipeline_root: str | os.PathLike,
    serving_dir: str | os.PathLike | None = None,
    metadata_path: str | os.PathLike | None = None,
    train_steps: int | None = None,
    eval_steps: int = configs.EVAL_STEPS,
    beam_pipeline_args: Sequence[str] | None = configs.DEFAULT_BEAM_PIPELINE_ARGS,
    schema_path: str | os.PathLike | None = None,
    warm_start: bool | str = False,
    metric_bound: float | None = None,
    metric_max_regression: float | None = None,
    custom_config: dict[str, Any] | None = None,
    enable_cache: bool = True,
    pipeline_name: str | None = None,
) -> tfx.dsl.Pipeline:
    """The TFX pipeline of one model family.

    Args:
      family: a key of ``tfx_pipeline.families.FAMILIES`` ("genre") or a :class:`FamilySpec`.
      data_root: a built dataset folder (``scorezoo data build <dataset> --out DIR``) or URI; its ``tfrecords/``
        holds the train/validation/test splits.
      pipeline_root: where component outputs go (local folder or ``gs://`` URI).
      serving_dir: Pusher's target, TF Serving's base path of the model; numeric version folders are created in
        it. Default ``serving/models/<model-name>`` of the checkout.
      metadata_path: SQLite ML Metadata file for local runs; None for orchestrators that bring their own (KFP).
      train_steps, eval_steps: Trainer steps (TrainArgs/EvalArgs); ``train_steps`` defaults to the family's.
      beam_pipeline_args: Beam options of StatisticsGen, Transform, Evaluator, ... (runner and its flags).
      schema_path: a reviewed ``schema.pbtxt`` (ImportSchemaGen, production) instead of inferring one (SchemaGen);
        ``"reviewed"`` means the family's checked-in schema.
      warm_start: False, True (= the shipped pretrained weights, checked now) or a weights path for Trainer.
      metric_bound, metric_max_regression: override the family's blessing thresholds.
      custom_config: extra ``run_fn`` settings (batch_size, learning_rate, seed, ...).
      enable_cache: reuse outputs of executions whose inputs and properties did not change.
    """
    spec = family if isinstance(family, FamilySpec) else get_family(family)
    name = pipeline_name or configs.pipeline_name(spec.name)
    serving_dir = serving_dir or configs.serving_model_dir(spec.model_name)
    warm = _warm_start(spec, warm_start)
    code_version = spec.code_fingerprint()

    example_gen = tfx.components.ImportExampleGen(input_base=_join(data_root, TFRECORDS_DIR),
                                                  input_config=input_config(spec))
    if schema_path is None:  # development: infer the schema from statistics of the allow-listed features
        statistics_gen = tfx.components.StatisticsGen(
            examples=example_gen.outputs["examples"],
            stats_options=tfdv.StatsOptions(feature_allowlist=list(spec.stats_features)),
        )
        schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"],
                                              infer_feature_shape=True)
        schema_hint = "inferred by SchemaGen: pass a reviewed schema file"
    else:  # production: the reviewed schema; examples are decoded with it (only its features, with its types)
        path = spec.schema_path if str(schema_path) == "reviewed" else schema_path
        schema_gen = tfx.components.ImportSchemaGen(schema_file=str(path))
        statistics_gen = tfx.components.StatisticsGen(
            examples=example_gen.outputs["examples"],
            schema=schema_gen.outputs["schema"],
            # Up to 4,096 distinct strings counted, not TFDV's default 1,000, so that a token outside a large domain
            # (omr: 1,864 tokens) is seen by ExampleValidator however rare.
            stats_options=tfdv.StatsOptions(experimental_filter_read_paths=True,
                                            num_rank_histogram_buckets=RANK_HISTOGRAM_BUCKETS),
        )
        schema_hint = str(path)
    example_validator = tfx.components.ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                                        schema=schema_gen.outputs["schema"])
    anomaly_gate = AnomalyGate(anomalies=example_validator.outputs["anomalies"],
                               schema_hint=schema_hint).with_id("AnomalyGate")
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=spec.preprocessing_fn,
        splits_config=tfx.proto.SplitsConfig(analyze=[spec.train_split],
                                             transform=[spec.train_split, spec.eval_split]),
        custom_config={"formats": spec.custom_config.get("formats"), "code_version": code_version},
        disable_statistics=True,  # statistics of log-mel tensors would be large and say nothing a reader needs
    )
    transform.add_upstream_node(anomaly_gate)  # no anomalies, no transform (and so no training, no push)
    trainer = tfx.components.Trainer(
        run_fn=spec.run_fn,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=[spec.train_split], num_steps=train_steps or spec.train_steps),
        eval_args=tfx.proto.EvalArgs(splits=[spec.eval_split], num_steps=eval_steps),
        custom_config={**spec.custom_config, **(custom_config or {}), "model_name": spec.model_name,
                       "warm_start": warm, "code_version": code_version},
    )
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        schema=schema_gen.outputs["schema"],
        eval_config=eval_config(spec, metric_bound, metric_max_regression),
        example_splits=[spec.eval_split],
    )
    pusher = OncePusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=str(serving_dir))),
    ).with_id("Pusher")
    return tfx.dsl.Pipeline(
        pipeline_name=name,
        pipeline_root=str(pipeline_root),
        components=[example_gen, statistics_gen, schema_gen, example_validator, anomaly_gate, transform, trainer,
                    model_resolver, evaluator, pusher],
        enable_cache=enable_cache,
        metadata_connection_config=_sqlite(metadata_path),
        beam_pipeline_args=list(beam_pipeline_args or []),
    )


def _warm_start(spec: FamilySpec, warm_start: bool | str) -> str | None:
    """``run_fn``'s warm_start value; missing or corrupt weights fail here, before anything runs."""
    if not warm_start:
        return None
    from zoo.pretrained import WeightsError

    if warm_start is True or warm_start == "pretrained":
        import zoo

        manifest = zoo.get_spec(spec.model_name).pretrained
        if manifest is None:
            raise WeightsError(f"--warm-start: no pretrained weights ship for {spec.model_name!r} yet; train without "
                               f"it, or pass a weights file or a folder with a manifest.json")
        manifest.verified_weights_path()
        return "pretrained"
    if not os.path.exists(warm_start):
        raise WeightsError(f"--warm-start: {warm_start} does not exist")
    return str(warm_start)


def _sqlite(metadata_path: str | os.PathLike | None) -> metadata_store_pb2.ConnectionConfig | None:
    if metadata_path is None:
        return None
    Path(metadata_path).parent.mkdir(parents=True, exist_ok=True)
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(str(metadata_path))
