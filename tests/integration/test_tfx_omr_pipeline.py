"""The TFX pipeline of the score-recognition family on the tiny real staff build: warm-started from the shipped
weights, a few train steps, blessed on symbol error rate by TFMA, pushed; and a corrupted build stopped at the gate."""
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.slow

COMPONENTS = ("ImportExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomalyGate", "Transform",
              "Trainer", "latest_blessed_model_resolver", "Evaluator", "Pusher")


@pytest.fixture(scope="module")
def env(staff_build, tmp_path_factory):
    data, _ = staff_build
    root = tmp_path_factory.mktemp("tfx-omr")
    return SimpleNamespace(data=Path(data), workdir=root / "work", serving=root / "serving" / "omr-resnet-bisru")


def run_pipeline(env, data=None, workdir=None, **kwargs):
    from tfx_pipeline import local_runner

    return local_runner.run("omr", data or env.data, workdir or env.workdir, serving_dir=env.serving,
                            train_steps=2, eval_steps=1, custom_config={"batch_size": 4}, schema_path="reviewed",
                            **kwargs)


@pytest.fixture(scope="module")
def first_run(env):
    # Two steps at the warm-start learning rate barely move the shipped weights: the production bound holds.
    return run_pipeline(env, warm_start=True)


def _validation_examples(data: Path) -> list[bytes]:
    from zoo.datasets import tfrecords

    return [r.numpy() for r in tf.data.TFRecordDataset(tfrecords.files(data, "validation", "staff"))]


def _feature(serialized: bytes, key: str) -> list[bytes]:
    return list(tf.train.Example.FromString(serialized).features.feature[key].bytes_list.value)


def test_warm_started_run_is_blessed_on_symbol_error_rate_and_pushed(env, first_run):
    assert first_run.states == {c: "COMPLETE" for c in COMPONENTS}
    assert first_run.blessed is True
    (version,) = [p.name for p in env.serving.iterdir()]
    assert first_run.pushed == str(env.serving / version)


def test_served_reading_is_the_librarys(env, first_run):
    """serving_default is the zoo model's own signature (ScoreRecognizer.serving_outputs, as `scorezoo export`
    writes), and serving_examples, through the Transform graph, reads the same tokens: no skew between what TFMA
    scores and what clients get."""
    import zoo

    model = tf.saved_model.load(str(Path(first_run.model) / "Format-Serving"))
    assert {"serving_default", "serving_examples", "transform_features"} <= set(model.signatures)
    examples = _validation_examples(env.data)[:3]
    images = [_feature(e, "image")[0] for e in examples]
    served = model.signatures["serving_default"](image=tf.constant(images))
    via_examples = model.signatures["serving_examples"](examples=tf.constant(examples))
    np.testing.assert_array_equal(served["tokens"].numpy(), via_examples["tokens"].numpy())

    # The pushed model reads with the shipped sign head and reading rules, as zoo.load(...) does.
    library = zoo.load("omr-resnet-bisru")
    assert library.signs is not None
    transformed = model.signatures["transform_features"](examples=tf.constant(examples))
    for i, example in enumerate(examples):
        reference = [t.decode() for t in _feature(example, "tokens")]
        assert [t.decode() for t in transformed["reference"].numpy()[i] if t] == reference
        read = [t.decode() for t in served["tokens"].numpy()[i] if t]
        assert len(read) == int(served["lengths"].numpy()[i])


def test_evaluator_error_rates_are_the_zoos(env, first_run):
    """TFMA's symbol and sequence error rates are zoo.metrics.ErrorRates of the SavedModel's own readings.

    A staff's reading can depend on the staves batched with it: past its width, a wider neighbour's padding holds
    normalized zeros where a lone staff's convolutions see zero padding (0023). TFMA batches as it likes, so each
    staff's errors are counted both alone and in one batch of all, and TFMA's count must lie between the two sums.
    """
    import tensorflow_model_analysis as tfma

    from zoo.metrics import ErrorRates

    model = tf.saved_model.load(str(Path(first_run.model) / "Format-Serving"))
    examples = _validation_examples(env.data)
    references = [[t.decode() for t in _feature(e, "tokens")] for e in examples]

    def read(batch: list[bytes]) -> list[list[str]]:
        tokens = model.signatures["serving_examples"](examples=tf.constant(batch))["tokens"].numpy()
        return [[t.decode() for t in row if t] for row in tokens]

    together = read(examples)
    alone = [read([e])[0] for e in examples]
    errors = [sorted((ErrorRates().add(ref, a), ErrorRates().add(ref, b)))
              for ref, a, b in zip(references, alone, together)]
    tokens = sum(map(len, references))
    result = tfma.load_eval_result(first_run.evaluation)
    overall = dict(result.slicing_metrics)[()][""][""]
    assert overall["example_count"]["doubleValue"] == len(examples)
    tfma_errors = overall["symbol_error_rate"]["doubleValue"] * tokens
    assert sum(e[0] for e in errors) - 1e-6 <= tfma_errors <= sum(e[1] for e in errors) + 1e-6
    wrong = overall["sequence_error_rate"]["doubleValue"] * len(examples)
    assert sum(e[0] > 0 for e in errors) - 1e-6 <= wrong <= sum(e[1] > 0 for e in errors) + 1e-6
    assert ErrorRates().extend(zip(references, alone)).ser <= 0.05
    assert tfma.load_validation_result(first_run.evaluation).validation_ok


def test_error_rate_bound_is_a_ceiling():
    """An error rate is blessed below its bound and at most ``max_regression`` above the last blessed model (the
    genre tests run a model below its bound through the pipeline; this checks the direction)."""
    import tensorflow_model_analysis as tfma

    from tfx_pipeline.families import OMR
    from tfx_pipeline.pipeline import eval_config

    config = eval_config(OMR, bound=0.05, max_regression=0.005)
    (spec,) = config.metrics_specs
    gated = [m for m in spec.metrics if m.per_slice_thresholds]
    assert [m.class_name for m in gated] == ["SymbolErrorRate"] and gated[0].module == "tfx_pipeline.metrics"
    assert {m.class_name for m in spec.metrics} == {"ExampleCount", "SymbolErrorRate", "SequenceErrorRate"}
    threshold = gated[0].per_slice_thresholds[0].threshold
    assert threshold.value_threshold.upper_bound.value == 0.05 and not threshold.value_threshold.HasField("lower_bound")
    assert threshold.change_threshold.direction == tfma.MetricDirection.LOWER_IS_BETTER
    assert 0.005 <= threshold.change_threshold.absolute.value < 0.0051


def test_unknown_token_stops_the_run_at_the_gate(env, tmp_path):
    from tfx_pipeline import configs, local_runner
    from tfx_pipeline.components import DataValidationError
    from zoo.datasets import tfrecords

    bad = tmp_path / "bad"
    shutil.copytree(env.data / "tfrecords", bad / "tfrecords")
    path = tfrecords.files(bad, "train", "staff")[0]
    examples = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
    examples[0].features.feature["tokens"].bytes_list.value.append(b"note-H9_sextuple")
    with tf.io.TFRecordWriter(path) as writer:
        for example in examples:
            writer.write(example.SerializeToString())
    workdir = tmp_path / "work"
    with pytest.raises(DataValidationError) as failure:
        run_pipeline(env, data=bad, workdir=workdir)
    message = str(failure.value)
    assert "feature 'tokens', ENUM_TYPE_UNEXPECTED_STRING_VALUES" in message and "note-H9_sextuple" in message
    states = local_runner.summarize(configs.metadata_path(workdir, "omr"), "scorezoo-omr").states
    assert states["AnomalyGate"] == "FAILED" and "Trainer" not in states


def test_checked_in_schema_is_the_shipped_vocabulary():
    """The reviewed schema's token domain is the shipped model's vocabulary: regenerate it when that changes."""
    from tfx_pipeline.families import OMR
    from tfx_pipeline.families.omr import schema_text

    assert OMR.schema_path.read_text(encoding="utf-8") == schema_text(), \
        "run: python -m tfx_pipeline.families.omr --write-schema"
