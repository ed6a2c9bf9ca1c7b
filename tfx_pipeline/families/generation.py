"""The generation family: ``gen-lstm`` on the genre build's symbolic event sequences.

Every genre clip carries its 10 s of performance events (:mod:`zoo.datasets.events`) beside its WAV; this family
reads only the events and the genre. The Evaluator blesses on the validation clips' negative log-likelihood per
event (teacher forced, conditioned on their genre); the Trainer also reports frame-level accuracy (0024).
"""
from __future__ import annotations

from tfx_pipeline.families import schema
from tfx_pipeline.families.base import COLLECTIONS, FamilySpec
from tfx_pipeline.families.schema import Field
from zoo.datasets import events as ev
from zoo.models.generation import GENRES

GENERATION = FamilySpec(
    name="generation",
    model_name="gen-lstm",
    dataset="genre",
    module="tfx_pipeline.generation_module",
    label_key="genre",
    labels=GENRES,
    stats_features=("events", "genre", "sample_id", "piece_id", "collection", "programs", "start_seconds"),
    raw_input_keys=("events", "genre"),
    metric="NegativeLogLikelihoodPerEvent",
    metric_module="tfx_pipeline.metrics",
    higher_is_better=False,
    metric_bound=2.6,  # nats per event on the validation clips (the shipped gen-lstm: 2.42; unconditioned 2.54)
    metric_max_regression=0.02,
    code_modules=("tfx_pipeline.generation_module", "tfx_pipeline.features", "tfx_pipeline.signatures",
                  "tfx_pipeline.trainer", "tfx_pipeline.metrics.base", "tfx_pipeline.metrics.likelihood",
                  "zoo.datasets.events", "zoo.models.generation", "zoo.training.generation"),
    prediction_key="likelihood",
    slice_keys=("genre",),  # NLL per genre, besides the overall one
    train_steps=400,  # batch 32 of 128-event crops: a fine-tune of the shipped weights (its own runs: 4,000)
    # gen-lstm trained at 1e-3 (zoo.training.configs.GenerationTrain); a fine-tune at a tenth of it
    custom_config={"batch_size": 32, "learning_rate": 1e-3, "warm_start_learning_rate": 1e-4, "frame_clips": 20},
)

SCHEMA_HEADER = """\
# Reviewed schema of the genre dataset as the generation family reads it (zoo.datasets.tfrecords.FEATURE_SPECS
# ["genre"] without `audio`, which this family never reads), used by `scorezoo pipeline run generation --schema
# reviewed` through ImportSchemaGen; ExampleValidator checks every split's statistics against it and the AnomalyGate
# stops the run on any anomaly.
#
# Written by `python -m tfx_pipeline.families.generation --write-schema`:
#   - every feature is required in every example;
#   - events: one or more ids of zoo.datasets.events (NOTE_ON, NOTE_OFF, TIME_SHIFT), 0..355;
#   - genre: the five genres gen-lstm is conditioned on; collection: the music21 collections of the recipes;
#   - programs: 1+ General MIDI programs in 0..127; start_seconds >= 0;
#   - sample_id / piece_id: free strings.
"""


def fields() -> tuple[Field, ...]:
    return (Field("events", "int", minimum=0, maximum=ev.EVENT_VOCAB_SIZE - 1, sequence=True),
            Field("genre", "bytes", domain=GENRES), Field("sample_id", "bytes"), Field("piece_id", "bytes"),
            Field("collection", "bytes", domain=COLLECTIONS),
            Field("programs", "int", minimum=0, maximum=127, sequence=True),
            Field("start_seconds", "float", minimum=0.0))


def schema_text() -> str:
    return schema.schema_text(SCHEMA_HEADER, fields())


if __name__ == "__main__":
    schema.write_schema_main(GENERATION, SCHEMA_HEADER, fields())
