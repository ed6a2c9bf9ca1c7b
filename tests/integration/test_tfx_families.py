"""The TFX pipelines of the retrieval and generation families on tiny real builds: warm-started from the shipped
weights, a few train steps, blessed by their custom TFMA metrics (which must be the zoo's figures), pushed; and a
clean build passing the reviewed schema where a corrupted one is an anomaly naming the feature."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.slow

COMPONENTS = ("ImportExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomalyGate", "Transform",
              "Trainer", "latest_blessed_model_resolver", "Evaluator", "Pusher")


def run_pipeline(family, data, root, **kwargs):
    from tfx_pipeline import local_runner
    from tfx_pipeline.families import get_family

    serving = root / "serving" / get_family(family).model_name
    return local_runner.run(family, data, root / "work", serving_dir=serving, train_steps=2, eval_steps=1,
                            schema_path="reviewed", **kwargs), serving


def overall_metrics(summary) -> dict[str, float]:
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(summary.evaluation)
    return {k: v["doubleValue"] for k, v in dict(result.slicing_metrics)[()][""][""].items()}


def examples_of(data: Path, split: str, dataset: str) -> list[bytes]:
    from zoo.datasets import tfrecords

    return [r.numpy() for r in tf.data.TFRecordDataset(tfrecords.files(data, split, dataset))]


def corrupted(data: Path, tmp_path: Path, dataset: str, change) -> Path:
    """A copy of ``data``'s TFRecords with ``change(example)`` applied to the first training example."""
    from zoo.datasets import tfrecords

    bad = tmp_path / "bad"
    shutil.copytree(data / "tfrecords", bad / "tfrecords")
    path = tfrecords.files(bad, "train", dataset)[0]
    examples = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
    change(examples[0])
    with tf.io.TFRecordWriter(path) as writer:
        for example in examples:
            writer.write(example.SerializeToString())
    return bad


def anomalies_against_reviewed_schema(family: str, data: Path) -> list[str]:
    """What ExampleValidator would find in ``data``'s train split against the family's reviewed schema, as the
    AnomalyGate describes it (the gate itself is run end to end by the genre and omr pipeline tests)."""
    import tensorflow_data_validation as tfdv

    from tfx_pipeline.components import describe_anomalies
    from tfx_pipeline.families import get_family
    from tfx_pipeline.pipeline import RANK_HISTOGRAM_BUCKETS

    spec = get_family(family)
    schema = tfdv.load_schema_text(str(spec.schema_path))
    # StatisticsGen reads only the schema's features (experimental_filter_read_paths); TFDV's own reader, only the
    # allow-listed ones
    options = tfdv.StatsOptions(schema=schema, feature_allowlist=[f.name for f in schema.feature],
                                num_rank_histogram_buckets=RANK_HISTOGRAM_BUCKETS)
    stats = tfdv.generate_statistics_from_tfrecord(
        data_location=str(data / "tfrecords" / spec.split_pattern("train")), stats_options=options)
    return describe_anomalies({"train": tfdv.validate_statistics(stats, schema)})


@pytest.mark.parametrize("family", ["retrieval", "generation"])
def test_checked_in_schema_is_written_from_the_family(family):
    import importlib

    from tfx_pipeline.families import get_family

    module = importlib.import_module(f"tfx_pipeline.families.{family}")
    assert get_family(family).schema_path.read_text(encoding="utf-8") == module.schema_text(), \
        f"run: python -m tfx_pipeline.families.{family} --write-schema"


# ------------------------------------------------------------------------------------------------- generation


@pytest.fixture(scope="module")
def generation_run(genre_build, tmp_path_factory):
    data, _ = genre_build
    root = tmp_path_factory.mktemp("tfx-generation")
    # ten pieces' validation clips are no measure of the production bound (2.6): the test's bound is looser
    summary, serving = run_pipeline("generation", Path(data), root, warm_start=True, metric_bound=5.0,
                                    custom_config={"batch_size": 4, "frame_clips": 2})
    return summary, serving, Path(data)


def test_generation_run_is_blessed_on_nll_per_event_and_pushed(generation_run):
    summary, serving, data = generation_run
    assert summary.states == {c: "COMPLETE" for c in COMPONENTS}
    assert summary.blessed is True
    (version,) = [p.name for p in serving.iterdir()]
    assert summary.pushed == str(serving / version)

    # TFMA's figure is the zoo's: the Trainer measured the same model with zoo.training.generation.nll_per_event
    trainer_figures = json.loads((Path(summary.model).parent.parent / "model_run" / Path(summary.model).name
                                  / "validation.json").read_text())
    assert overall_metrics(summary)["nll_per_event"] == pytest.approx(trainer_figures["nll_per_event"], abs=1e-4)
    assert 0.0 < trainer_figures["frame_accuracy"] <= 1.0

    # the pushed model answers clients with the zoo's own sampling signature; the same seed, the same music
    model = tf.saved_model.load(str(serving / version))
    assert {"generate", "serving_default", "serving_examples", "transform_features"} <= set(model.signatures)
    args = dict(genre=tf.constant(["fiddle"]), seconds=tf.constant(2.0), temperature=tf.constant(1.0),
                seed=tf.constant(3, tf.int64), program=tf.constant(40))
    first, again = model.signatures["generate"](**args), model.signatures["generate"](**args)
    np.testing.assert_array_equal(first["events"].numpy(), again["events"].numpy())
    assert int(first["lengths"].numpy()[0]) > 0

    likelihood = model.signatures["serving_examples"](examples=tf.constant(examples_of(data, "validation", "genre")))
    nll, count = likelihood["likelihood"].numpy().sum(0)
    assert nll / count == pytest.approx(trainer_figures["nll_per_event"], abs=1e-4)


def test_event_out_of_range_is_an_anomaly_naming_the_feature(genre_build, tmp_path):
    data, _ = genre_build
    assert anomalies_against_reviewed_schema("generation", Path(data)) == []
    bad = corrupted(Path(data), tmp_path, "genre",
                    lambda ex: ex.features.feature["events"].int64_list.value.append(999))
    (line,) = anomalies_against_reviewed_schema("generation", bad)
    assert "feature 'events', INT_TYPE_BIG_INT" in line


# -------------------------------------------------------------------------------------------------- retrieval


@pytest.fixture(scope="module")
def retrieval_run(pairs_all_splits, tmp_path_factory):
    root = tmp_path_factory.mktemp("tfx-retrieval")
    summary, serving = run_pipeline("retrieval", pairs_all_splits, root, custom_config={"batch_size": 8})
    return summary, serving, pairs_all_splits


def test_retrieval_run_is_blessed_on_mrr_and_pushed(retrieval_run):
    from zoo.metrics import retrieval_ranks, retrieval_summary

    summary, serving, data = retrieval_run
    assert summary.states == {c: "COMPLETE" for c in COMPONENTS}
    assert summary.blessed is True
    (version,) = [p.name for p in serving.iterdir()]
    model = tf.saved_model.load(str(serving / version))
    assert {"embed_audio", "embed_sheet", "serving_default", "serving_examples"} <= set(model.signatures)

    # TFMA's MRR and R@1 are zoo.metrics' ranks of the pushed model's embeddings, both directions averaged
    examples = examples_of(data, "validation", "pairs")
    pairs = model.signatures["serving_examples"](examples=tf.constant(examples))["embeddings"].numpy()
    audio, sheet = pairs[:, 0], pairs[:, 1]
    both = [retrieval_summary(retrieval_ranks(audio, sheet)), retrieval_summary(retrieval_ranks(sheet, audio))]
    figures = overall_metrics(summary)
    assert figures["example_count"] == len(examples)
    assert figures["retrieval_mrr"] == pytest.approx(np.mean([s["MRR"] for s in both]), abs=1e-3)
    assert figures["recall_at_1"] == pytest.approx(np.mean([s["R@1"] for s in both]), abs=1e-3)

    # the served sheet embedding of a snippet is the tf.Example path's: no skew between clients and TFMA
    snippet = tf.train.Example.FromString(examples[0]).features.feature["snippet"].bytes_list.value[0]
    served = model.signatures["embed_sheet"](image=tf.constant([snippet]))["vectors"].numpy()
    assert np.max(served @ sheet[0]) == pytest.approx(1.0, abs=1e-3)


def test_pitch_out_of_range_is_an_anomaly_naming_the_feature(pairs_all_splits, tmp_path):
    def change(ex):
        ex.features.feature["pitch"].int64_list.value[0] = 200

    assert anomalies_against_reviewed_schema("retrieval", pairs_all_splits) == []
    (line,) = anomalies_against_reviewed_schema("retrieval", corrupted(pairs_all_splits, tmp_path, "pairs", change))
    assert "feature 'pitch', INT_TYPE_BIG_INT" in line
