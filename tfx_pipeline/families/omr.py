"""The score-recognition family: ``omr-resnet-bisru`` on the staff dataset's engraved staves.

Its labels are the shipped model's token vocabulary (the PrIMuS semantic tokens and the few the staff builds add),
so a warm-started model keeps its output layer and the reviewed schema's token domain is the same list.
"""
from __future__ import annotations

from functools import lru_cache

from tfx_pipeline.families import schema
from tfx_pipeline.families.base import COLLECTIONS, FamilySpec
from tfx_pipeline.families.schema import Field

MODEL_NAME = "omr-resnet-bisru"
# What the staff builds engrave with (data/recipes/staff*.json). Verovio's Leland and Petaluma are reserved for
# held-out evaluation: a build holding them is stopped at the gate rather than trained on.
FONTS = ("Leipzig", "Bravura", "Gootville", "LilyPond", "MuseScore-Emmentaler", "MuseScore-Gonville")


@lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """The shipped model's vocabulary (sha256-checked against its manifest)."""
    import zoo

    manifest = zoo.get_spec(MODEL_NAME).pretrained
    if manifest is None or manifest.vocabulary() is None:
        raise FileNotFoundError(f"the omr family's token vocabulary is the shipped {MODEL_NAME}'s, which is missing: "
                                "reinstall scorezoo")
    return tuple(manifest.vocabulary())


OMR = FamilySpec(
    name="omr",
    model_name=MODEL_NAME,
    dataset="staff",
    module="tfx_pipeline.omr_module",
    label_key="tokens",
    labels=vocabulary(),
    stats_features=("image", "height", "width", "tokens", "sample_id", "piece_id", "collection", "font"),
    raw_input_keys=("image",),
    metric="SymbolErrorRate",
    metric_module="tfx_pipeline.metrics",
    reported_metrics=("SequenceErrorRate",),
    higher_is_better=False,
    metric_bound=0.05,  # at most 5 % of the validation staves' tokens wrong (the shipped model: about 0.5 %)
    metric_max_regression=0.005,  # at most half a point worse than the latest blessed model
    code_modules=("tfx_pipeline.omr_module", "tfx_pipeline.features", "tfx_pipeline.signatures",
                  "tfx_pipeline.trainer", "tfx_pipeline.metrics.base", "tfx_pipeline.metrics.error_rates",
                  "zoo.preprocessing.image", "zoo.models.omr",
                  "zoo.training.omr", "zoo.training.ctc", "zoo.metrics"),
    eval_label_key="reference",  # the label tokens as strings (transform_features); the training label is ids
    prediction_key="tokens",
    slice_keys=("font",),  # SER per engraver and font, besides the overall one
    train_steps=1000,  # about 20 minutes here (batch 16): a fine-tune of the shipped weights on new data
    # The shipped recipe's last stages trained at 5e-5 to 1e-4; from scratch the seed run's 1e-3.
    custom_config={"batch_size": 16, "learning_rate": 1e-3, "warm_start_learning_rate": 5e-5},
)


SCHEMA_HEADER = """\
# Reviewed schema of the staff dataset (zoo.datasets.tfrecords.FEATURE_SPECS["staff"]), used by production runs
# (`scorezoo pipeline run omr --schema reviewed`) through ImportSchemaGen; ExampleValidator checks every split's
# statistics against it and the AnomalyGate stops the run on any anomaly.
#
# Written by `python -m tfx_pipeline.families.omr --write-schema` from SchemaGen's output on a tiny build, then:
#   - every feature is required in every example;
#   - tokens: one or more, each one of the shipped omr-resnet-bisru's vocabulary (its output layer);
#   - font: the engravers and fonts the staff builds train on; the ones reserved for held-out evaluation are not
#     in the domain, so a build holding them stops here;
#   - collection: the music21 corpus collections of the staff recipes;
#   - height, width: at least 16 px (a smaller image cannot hold a staff);
#   - sample_id / piece_id: free strings.
"""


def fields() -> tuple[Field, ...]:
    """What the reviewed schema holds (see :data:`SCHEMA_HEADER`)."""
    return (Field("image", "bytes"), Field("height", "int", minimum=16), Field("width", "int", minimum=16),
            Field("tokens", "bytes", domain=vocabulary(), sequence=True), Field("sample_id", "bytes"),
            Field("piece_id", "bytes"), Field("collection", "bytes", domain=COLLECTIONS),
            Field("font", "bytes", domain=FONTS))


def schema_text() -> str:
    return schema.schema_text(SCHEMA_HEADER, fields())


if __name__ == "__main__":
    schema.write_schema_main(OMR, SCHEMA_HEADER, fields())
