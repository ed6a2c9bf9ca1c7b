"""The :class:`FamilySpec` dataclass and the signature names every family's SavedModel carries."""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"
# The music21 corpus collections every build's recipe draws from (data/recipes/*.json): a reviewed schema's domain.
COLLECTIONS = ("bach", "palestrina", "josquin", "haydn", "mozart", "beethoven", "essenFolksong", "ryansMammoth",
               "oneills1850")

# Signature names of every pushed SavedModel (one definition; the module files and the EvalConfig read them).
SERVING_SIGNATURE = "serving_default"  # raw bytes in, {label, scores} out: what TF Serving clients call
EXAMPLES_SIGNATURE = "serving_examples"  # serialized tf.Example in, same outputs: what TFMA evaluates
TRANSFORM_SIGNATURE = "transform_features"  # serialized tf.Example in, transformed features (with label) out


@dataclass(frozen=True)
class FamilySpec:
    """One model family as the pipeline sees it.

    Data: ``<data_root>/tfrecords/<split>/<dataset>-*.tfrecord`` parsed with ``zoo.datasets.tfrecords.FEATURE_SPECS``.
    """

    name: str  # family key, e.g. "genre"; the pipeline is "scorezoo-<name>"
    model_name: str  # zoo registry name (zoo.create_model) and the serving model name (serving/models/<model_name>)
    dataset: str  # TFRecord dataset name (zoo.datasets.tfrecords.FEATURE_SPECS key)
    module: str  # importable module holding preprocessing_fn and run_fn
    label_key: str  # raw label feature
    labels: tuple[str, ...]  # label vocabulary in the model's output order
    stats_features: tuple[str, ...]  # StatisticsGen allow-list when SchemaGen infers the schema (= reviewed features)
    raw_input_keys: tuple[str, ...]  # raw features the served model needs (serving_examples parses only these)
    metric: str  # TFMA metric class, e.g. "SparseCategoricalAccuracy"; the one the blessing is decided on
    metric_bound: float  # absolute bound a candidate must reach to be blessed (a floor, or a ceiling for an error)
    metric_max_regression: float  # how much worse than the latest blessed model a candidate may be
    code_modules: tuple[str, ...]  # modules whose source is fingerprinted into the cache key of Transform/Trainer
    transformed_label_key: str = "label"
    prediction_key: str = "scores"
    higher_is_better: bool = True  # False for an error rate: the bound is then a ceiling
    metric_module: str | None = None  # where a custom TFMA metric class is defined (None: TFMA's own)
    reported_metrics: tuple[str, ...] = ()  # further metric classes (same module) computed, not gated
    eval_label_key: str | None = None  # the label TFMA reads, when not ``transformed_label_key``
    train_steps: int = 2000  # Trainer steps of a production run
    slice_keys: tuple[str, ...] = ()  # raw features TFMA also slices the metric by
    splits: tuple[str, ...] = ("train", "validation", "test")
    train_split: str = "train"
    eval_split: str = "validation"  # Trainer's eval split and the split Evaluator blesses on
    custom_config: dict[str, Any] = field(default_factory=dict)  # defaults for run_fn (batch size, ...)

    @property
    def preprocessing_fn(self) -> str:
        return f"{self.module}.preprocessing_fn"

    @property
    def run_fn(self) -> str:
        return f"{self.module}.run_fn"

    @property
    def schema_path(self) -> Path:
        """The reviewed schema checked in for production runs (ImportSchemaGen)."""
        return SCHEMAS_DIR / self.name / "schema.pbtxt"

    def split_pattern(self, split: str) -> str:
        """ImportExampleGen pattern of one split, relative to ``<data_root>/tfrecords``."""
        return f"{split}/{self.dataset}-*.tfrecord"

    def code_fingerprint(self) -> str:
        """sha256 over the sources of :attr:`code_modules`.

        Transform and Trainer name their functions by import path, which TFX's cache key does not cover; this
        fingerprint goes into their custom_config so that editing the front end or run_fn re-runs them.
        """
        digest = hashlib.sha256()
        for name in self.code_modules:
            spec = importlib.util.find_spec(name)
            if spec is None or not spec.origin:
                raise ModuleNotFoundError(f"{self.name} family: cannot find module {name!r} to fingerprint")
            digest.update(name.encode() + b"\0" + Path(spec.origin).read_bytes())
        return digest.hexdigest()[:16]

