"""The TFX pipeline of the genre family on a tiny real build: LocalDagRunner in this process, a few train steps."""
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.slow

COMPONENTS = ("ImportExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate", "Transform",
              "Trainer", "latest_blessed_model_resolver", "Evaluator", "Pusher")
DATA_AND_TRAINING = ("ImportExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate",
                     "Transform", "Trainer")


@pytest.fixture(scope="module")
def env(genre_build, tmp_path_factory):
    data, _ = genre_build
    root = tmp_path_factory.mktemp("tfx")
    return SimpleNamespace(data=Path(data), workdir=root / "work", serving=root / "serving" / "genre-cnn")


def run_pipeline(env, data=None, workdir=None, **kwargs):
    from tfx_pipeline import local_runner

    # A few steps give a poor model: the test blesses anything above accuracy 0 unless it asks otherwise.
    kwargs.setdefault("metric_bound", 0.0)
    return local_runner.run("genre", data or env.data, workdir or env.workdir, serving_dir=env.serving,
                            train_steps=3, eval_steps=1, custom_config={"batch_size": 2}, **kwargs)


def versions(serving: Path) -> set[str]:
    return {p.name for p in serving.iterdir()} if serving.is_dir() else set()


@pytest.fixture(scope="module")
def first_run(env):
    return run_pipeline(env)


def test_end_to_end_run_pushes_a_servable_model(env, first_run):
    from zoo.datasets import tfrecords
    from zoo.models.genre_cnn import GENRES

    assert first_run.states == {c: "COMPLETE" for c in COMPONENTS}
    assert first_run.blessed is True
    (version,) = versions(env.serving)
    assert version.isdigit()
    assert first_run.pushed == str(env.serving / version) and not first_run.pushed_before

    model = tf.saved_model.load(str(env.serving / version))
    assert {"serving_default", "serving_examples", "transform_features"} <= set(model.signatures)
    (serialized,) = [r.numpy() for r in tf.data.TFRecordDataset(tfrecords.files(env.data, "validation", "genre"))][:1]
    example = tf.train.Example.FromString(serialized)
    wav = example.features.feature["audio"].bytes_list.value[0]
    genre = example.features.feature["genre"].bytes_list.value[0].decode()

    raw = model.signatures["serving_default"](audio=tf.constant([wav]))
    assert raw["scores"].shape == (1, len(GENRES))
    assert raw["genre"].numpy()[0].decode() in GENRES
    np.testing.assert_allclose(raw["scores"].numpy().sum(), 1.0, rtol=1e-5)
    # The tf.Example signature goes through the Transform graph: same front end, same scores (no skew).
    via_examples = model.signatures["serving_examples"](examples=tf.constant([serialized]))
    np.testing.assert_allclose(via_examples["scores"].numpy(), raw["scores"].numpy(), atol=1e-5)
    transformed = model.signatures["transform_features"](examples=tf.constant([serialized]))
    assert transformed["label"].numpy().tolist() == [GENRES.index(genre)]
    assert transformed["log_mel"].shape == (1, 427, 128)


def _direct_accuracy(model_dir: str, files: list[str]) -> dict[tuple, tuple[int, float]]:
    """(example count, accuracy) per TFMA slice key, computed with the SavedModel's own signatures: argmax of
    ``serving_examples`` scores vs ``transform_features`` label, sliced by the raw ``genre``."""
    model = tf.saved_model.load(model_dir)
    predicted, labels, genres = [], [], []
    for batch in tf.data.TFRecordDataset(files).batch(16):
        predicted.append(model.signatures["serving_examples"](examples=batch)["scores"].numpy().argmax(-1))
        labels.append(model.signatures["transform_features"](examples=batch)["label"].numpy().reshape(-1))
        genres.append(tf.io.parse_example(batch, {"genre": tf.io.FixedLenFeature([], tf.string)})["genre"].numpy())
    predicted, labels, genres = np.concatenate(predicted), np.concatenate(labels), np.concatenate(genres)
    correct = predicted == labels
    out = {(): (len(correct), correct.mean())}
    for genre in set(genres.tolist()):
        rows = genres == genre
        out[(("genre", genre.decode()),)] = (int(rows.sum()), correct[rows].mean())
    return out


def test_evaluator_accuracy_is_the_models_own(env, first_run):
    """TFMA's numbers (read from the evaluation artifact) are the trained SavedModel's accuracy on the eval split,
    computed directly from its signatures: overall and per genre. Only the overall slice is gated."""
    import tensorflow_model_analysis as tfma

    from tfx_pipeline.families import GENRE
    from zoo.datasets import tfrecords

    assert first_run.evaluation and first_run.model
    direct = _direct_accuracy(str(Path(first_run.model) / "Format-Serving"),
                              tfrecords.files(env.data, GENRE.eval_split, "genre"))
    result = tfma.load_eval_result(first_run.evaluation)
    tfma_metrics = {key: metrics[""][""] for key, metrics in result.slicing_metrics}
    assert set(tfma_metrics) == set(direct)
    for key, (count, accuracy) in direct.items():
        assert tfma_metrics[key]["example_count"]["doubleValue"] == count, key
        assert abs(tfma_metrics[key]["sparse_categorical_accuracy"]["doubleValue"] - accuracy) <= 1e-6, key

    validation = tfma.load_validation_result(first_run.evaluation)
    assert validation.validation_ok
    (details,) = validation.validation_details.slicing_details
    assert details.slicing_spec == tfma.SlicingSpec() and details.num_matching_slices == 1  # overall only


def test_blessing_thresholds_gate_the_overall_slice_only():
    """A threshold without a slicing spec would gate every slice (one weak genre failed a model at 0.81 overall)."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.metrics import metric_specs

    from tfx_pipeline.families import GENRE
    from tfx_pipeline.pipeline import eval_config

    config = eval_config(GENRE, bound=0.6, max_regression=0.01)
    assert len(config.slicing_specs) == 1 + len(GENRE.slice_keys)  # per-genre metrics are still computed
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(config.metrics_specs)
    by_kind = {("change" if key.is_diff else "value", key.name): slices for key, slices in thresholds.items()}
    assert set(by_kind) == {("value", "sparse_categorical_accuracy"), ("change", "sparse_categorical_accuracy")}
    for slices in by_kind.values():
        assert [slice_spec for slice_spec, _ in slices] == [tfma.SlicingSpec()]


def test_unchanged_rerun_is_served_from_cache(env, first_run):
    before = versions(env.serving)
    summary = run_pipeline(env)
    assert {c: summary.states[c] for c in DATA_AND_TRAINING} == {c: "CACHED" for c in DATA_AND_TRAINING}
    # The resolver now returns the first run's model as baseline, so Evaluator may run again; Pusher sees the
    # same SavedModel already served and writes no second version.
    assert summary.blessed is True
    assert summary.pushed == first_run.pushed and summary.pushed_before
    assert versions(env.serving) == before


def test_model_below_threshold_is_not_pushed(env, first_run):
    before = versions(env.serving)
    summary = run_pipeline(env, metric_bound=1.01)  # impossible accuracy
    assert summary.states["Trainer"] == "CACHED"
    assert summary.states["Evaluator"] == "COMPLETE"
    assert summary.blessed is False
    assert summary.pushed is None
    assert versions(env.serving) == before


def _rewrite(data: Path, split: str, edit) -> None:
    from zoo.datasets import tfrecords

    (path,) = tfrecords.files(data, split, "genre")
    examples = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
    with tf.io.TFRecordWriter(path) as writer:
        for example in edit(examples):
            writer.write(example.SerializeToString())


def _copy(example: tf.train.Example) -> tf.train.Example:
    out = tf.train.Example()
    out.CopyFrom(example)
    return out


def _missing_and_unknown_label(examples):
    missing, unknown = _copy(examples[0]), _copy(examples[-1])
    del missing.features.feature["genre"]
    unknown.features.feature["genre"].bytes_list.value[:] = [b"polka"]
    return examples + [missing, unknown]


def _genre_as_int(examples):
    for example in examples:
        example.features.feature["genre"].Clear()
        example.features.feature["genre"].int64_list.value.append(3)
    return examples


def test_anomalies_stop_the_run_before_training(env, tmp_path):
    from tfx_pipeline import configs, local_runner
    from tfx_pipeline.components import DataValidationError

    bad = tmp_path / "bad"
    shutil.copytree(env.data / "tfrecords", bad / "tfrecords")
    _rewrite(bad, "train", _missing_and_unknown_label)  # a missing and an out-of-vocabulary label
    before = versions(env.serving)
    workdir = tmp_path / "work"

    with pytest.raises(DataValidationError) as failure:
        run_pipeline(env, data=bad, workdir=workdir, schema_path="reviewed")
    message = str(failure.value)
    assert "split 'train', feature 'genre', FEATURE_TYPE_LOW_FRACTION_PRESENT" in message
    assert "split 'train', feature 'genre', ENUM_TYPE_UNEXPECTED_STRING_VALUES" in message and "polka" in message
    assert "schemas/genre/schema.pbtxt" in message
    states = local_runner.summarize(configs.metadata_path(workdir, "genre"), "scorezoo-genre").states
    assert states["ImportSchemaGen"] == "COMPLETE" and states["AnomalyGate"] == "FAILED"
    assert not {"Transform", "Trainer", "Evaluator", "Pusher"} & set(states)
    assert versions(env.serving) == before

    # A wrong type (the label written as int64): examples are decoded with the reviewed schema, so StatisticsGen
    # stops at the first such example, naming the feature and both types.
    _rewrite(bad, "train", lambda examples: examples[:1] + _genre_as_int(examples[1:2]))
    with pytest.raises(RuntimeError, match=r'wrong type, expected bytes_list, found int64_list for feature "genre"'):
        run_pipeline(env, data=bad, workdir=workdir, schema_path="reviewed")
    states = local_runner.summarize(configs.metadata_path(workdir, "genre"), "scorezoo-genre").states
    assert states["StatisticsGen"] == "FAILED" and "Trainer" not in states
    assert versions(env.serving) == before


def test_reviewed_schema_accepts_a_clean_build(env):
    import tensorflow_data_validation as tfdv
    from tfx.utils import io_utils

    from tfx_pipeline.families import GENRE
    from zoo.datasets import tfrecords

    schema = io_utils.SchemaReader().read(str(GENRE.schema_path))
    assert sorted(f.name for f in schema.feature) == sorted(GENRE.stats_features)
    assert list(tfdv.get_domain(schema, "genre").value) == list(GENRE.labels)
    options = tfdv.StatsOptions(feature_allowlist=list(GENRE.stats_features))
    for split in GENRE.splits:
        stats = tfdv.generate_statistics_from_tfrecord(tfrecords.files(env.data, split, "genre")[0],
                                                       stats_options=options)
        anomalies = tfdv.validate_statistics(stats, schema)
        assert not anomalies.anomaly_info, (split, anomalies)


def test_warm_start_from_shipped_weights_and_missing_ones(env, tmp_path):
    from tfx_pipeline.pipeline import create_pipeline
    from zoo.pretrained import WeightsError

    pipeline = create_pipeline("genre", env.data, tmp_path, warm_start=True)  # hash-checked shipped weights
    assert pipeline.pipeline_info.pipeline_name == "scorezoo-genre"
    with pytest.raises(WeightsError, match="missing.h5 does not exist"):
        create_pipeline("genre", env.data, tmp_path, warm_start=str(tmp_path / "missing.h5"))


@pytest.mark.parametrize("family", ["genre", "omr", "retrieval", "generation"])
def test_kubeflow_compile_lists_every_component(tmp_path, family):
    import json

    from click.testing import CliRunner

    from tfx_pipeline.families import FAMILIES
    from zoo.cli.pipeline import FAMILY_CHOICES, pipeline

    assert set(FAMILY_CHOICES) == set(FAMILIES)
    out = tmp_path / "pipeline.json"
    result = CliRunner().invoke(pipeline, ["compile", family, "--output", str(out), "--image",
                                           "example.org/scorezoo-pipeline:test", "--pipeline-root", "gs://b/root"])
    assert result.exit_code == 0, result.output
    job = json.loads(out.read_text())
    spec = job["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    expected = {"ImportExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomalyGate",
                "Transform", "Trainer", "Evaluator", "Pusher"}
    assert expected <= set(tasks)
    assert any(t.startswith("latest_blessed_model_resolver") for t in tasks)
    assert "AnomalyGate" in tasks["Transform"]["dependentTasks"]
    executors = spec["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values() if "container" in e}
    assert images == {"example.org/scorezoo-pipeline:test"}
    assert "tfx_pipeline.components.OncePusherExecutor" in json.dumps(executors["Pusher_executor"])
    assert f"/pipeline/tfx_pipeline/schemas/{family}/schema.pbtxt" in out.read_text()
    assert f"gs://b/root/data/{family}/tfrecords" in out.read_text()
    # beside it, the bare PipelineSpec a Kubeflow Pipelines cluster's client reads
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    bare = json_format.ParseDict(json.loads((tmp_path / "pipeline.kfp.json").read_text()),
                                 pipeline_spec_pb2.PipelineSpec())
    assert set(bare.root.dag.tasks) == set(tasks)
