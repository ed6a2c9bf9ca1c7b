"""The retrieval family: ``retrieval-gcn`` on the pairs build's sheet snippets and the audio excerpts they sound as.

The Evaluator ranks every validation pair's audio excerpt against all validation snippets and back, and blesses on
the mean reciprocal rank (both directions averaged), with recall at 1 reported beside it (0024).
"""
from __future__ import annotations

from tfx_pipeline.families import schema
from tfx_pipeline.families.base import COLLECTIONS, FamilySpec
from tfx_pipeline.families.schema import Field
from zoo.models.genre_cnn import GENRES

RETRIEVAL = FamilySpec(
    name="retrieval",
    model_name="retrieval-gcn",
    dataset="pairs",
    module="tfx_pipeline.retrieval_module",
    label_key="pitch",
    labels=(),  # the label loss's classes are pitches (zoo.models.retrieval.pitch_class_index), not strings
    stats_features=("snippet", "audio", "audio_ensemble", "onset_seconds", "pitch", "sample_id", "piece_id",
                    "collection", "genre", "segment", "x"),
    # what serving_examples parses: the Transform graph reads the ensemble excerpt too (training hears it), and
    # a feature left out of the parse would reach it empty
    raw_input_keys=("snippet", "audio", "audio_ensemble"),
    metric="RetrievalMRR",
    metric_module="tfx_pipeline.metrics",
    reported_metrics=("RecallAt1",),
    # The shipped retrieval-gcn: validation MRR 0.47 at 2,000 candidates; the whole validation split (2,576) is a
    # little harder. A candidate must rank the right partner first about a third of the time.
    metric_bound=0.35,
    metric_max_regression=0.01,
    code_modules=("tfx_pipeline.retrieval_module", "tfx_pipeline.features", "tfx_pipeline.signatures",
                  "tfx_pipeline.trainer", "tfx_pipeline.metrics.base", "tfx_pipeline.metrics.retrieval",
                  "zoo.preprocessing.snippets", "zoo.preprocessing.audio", "zoo.models.retrieval",
                  "zoo.training.retrieval", "zoo.metrics"),
    prediction_key="embeddings",
    slice_keys=("genre",),  # ranks within each genre's candidates, besides all of them
    train_steps=300,  # batch 128: about two epochs of a fine-tune of the graph and FC encoders
    # the shipped model's graph stage trained at 1e-3 (zoo.training.configs.RetrievalTrain); a fine-tune at 1e-4
    custom_config={"batch_size": 128, "learning_rate": 1e-3, "warm_start_learning_rate": 1e-4, "formats": ["wav"]},
)

SCHEMA_HEADER = """\
# Reviewed schema of the pairs dataset (zoo.datasets.tfrecords.FEATURE_SPECS["pairs"]), used by `scorezoo pipeline
# run retrieval --schema reviewed` through ImportSchemaGen; ExampleValidator checks every split's statistics against
# it and the AnomalyGate stops the run on any anomaly.
#
# Written by `python -m tfx_pipeline.families.retrieval --write-schema`:
#   - every feature is required in every example;
#   - snippet (PNG), audio and audio_ensemble (WAV): bytes;
#   - pitch: a MIDI pitch 0..127; onset_seconds, x: >= 0;
#   - genre: the five genres of the builds; collection: the music21 collections of the recipes;
#   - sample_id / piece_id / segment: free strings.
"""


def fields() -> tuple[Field, ...]:
    return (Field("snippet", "bytes"), Field("audio", "bytes"), Field("audio_ensemble", "bytes"),
            Field("onset_seconds", "float", minimum=0.0), Field("pitch", "int", minimum=0, maximum=127),
            Field("sample_id", "bytes"), Field("piece_id", "bytes"), Field("collection", "bytes", domain=COLLECTIONS),
            Field("genre", "bytes", domain=GENRES), Field("segment", "bytes"), Field("x", "float", minimum=0.0))


def schema_text() -> str:
    return schema.schema_text(SCHEMA_HEADER, fields())


if __name__ == "__main__":
    schema.write_schema_main(RETRIEVAL, SCHEMA_HEADER, fields())
