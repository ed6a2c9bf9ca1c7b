"""Typed configuration: strict dicts and dotted overrides; the reading rules' config and its switches."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from zoo import config as config_lib
from zoo.config import ConfigError
from zoo.decoding import Reader, ReadingConfig
from zoo.decoding.config import RULES, parse_rules
from zoo.notation.vocabulary import load_vocabulary


def test_a_reading_config_round_trips_through_a_dict_and_refuses_unknown_keys():
    config = config_lib.override(ReadingConfig(), ["place.doubt=0.8", "ties.on=false"])
    assert config.place.doubt == 0.8 and not config.ties.on and config.enabled == RULES[:-1]
    assert ReadingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match=r"unknown setting 'reading.place.dout'; did you mean doubt\?"):
        ReadingConfig.from_dict({"place": {"dout": 0.5}})
    with pytest.raises(ConfigError, match="unknown setting 'plase'; did you mean place"):
        config_lib.override(ReadingConfig(), ["plase.on=false"])
    with pytest.raises(ConfigError, match="place.window takes a whole number, got 1.5"):
        config_lib.override(ReadingConfig(), ["place.window=1.5"])
    with pytest.raises(ConfigError, match="ties.on takes true or false"):
        config_lib.override(ReadingConfig(), ["ties.on=maybe"])
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        config_lib.override(ReadingConfig(), ["ties.on"])
    with pytest.raises(ConfigError, match="place must be a mapping of settings, got int"):
        config_lib.override(ReadingConfig(), ["place=3"])


def test_rules_are_switched_by_name():
    assert ReadingConfig.none().enabled == ()
    assert ReadingConfig().only(parse_rules("rhythm,key")).enabled == ("rhythm", "key")
    assert parse_rules("all") == RULES and parse_rules("none") == ()
    with pytest.raises(ConfigError, match="unknown reading rule rythm"):
        parse_rules("rythm")


def test_the_bar_rule_runs_without_a_sign_head_and_each_rule_can_be_switched_off():
    vocabulary = load_vocabulary()
    classes = len(vocabulary) + 1
    tokens = ["timeSignature-2/4", "note-A4_quarter", "note-A4_sixteenth.", "note-B4_sixteenth", "note-A4_eighth",
              "barline"]  # the thirty-second B4 read as a sixteenth: the bar overruns
    logits = np.full((1, 2 * len(tokens), classes), -5.0, np.float32)
    logits[0, 1::2, -1] = 10.0
    for t, token in enumerate(tokens):
        logits[0, 2 * t, vocabulary.index(token)] = 6.0
    logits[0, 6, vocabulary.index("note-B4_thirty_second")] = 2.0
    probs, lengths = tf.nn.softmax(logits), tf.constant([2 * len(tokens)])

    def read(config: ReadingConfig) -> list[str]:
        reading = Reader(vocabulary, config)(probs, lengths)
        return [vocabulary[i] for i in reading.ids.numpy()[0, : int(reading.counts[0])]]

    assert read(ReadingConfig())[3] == "note-B4_thirty_second"  # no head: the head's rules simply do not run
    assert read(ReadingConfig().only(["rhythm"]))[3] == "note-B4_thirty_second"
    assert read(ReadingConfig().only(["key", "place", "accidentals", "ties"])) == tokens
    assert read(ReadingConfig.none()) == tokens


def test_training_configs_are_typed_and_strict():
    from zoo.training.configs import training_config

    config = training_config("omr-resnet-bisru", ["train.learning_rate=3e-4", "model.rnn=lstm",
                                                  "augment.width_scale=[0.75, 1.5]"])
    assert config.train.learning_rate == 3e-4 and config.model.overrides() == {"rnn": "lstm"}
    assert config.augment.width_scale == (0.75, 1.5)
    with pytest.raises(ConfigError, match=r"unknown setting 'train.lr_schedule'; did you mean"):
        training_config("omr-resnet-bisru", ["train.lr_schedule=cosine"])
    with pytest.raises(ConfigError, match="train.schedule 'step': choose constant or cosine"):
        training_config("omr-resnet-bisru", ["train.schedule=step"])
    with pytest.raises(ConfigError, match="one share per extra_data folder: 1 folders, 0 shares"):
        training_config("omr-resnet-bisru", ['data.extra_data=["x"]'])
    with pytest.raises(ConfigError, match="model.rnn 'gru': choose sru or lstm"):
        training_config("omr-resnet-bisru", ["model.rnn=gru"])
    assert training_config("genre-cnn", ["train.mixup_alpha=0.2"]).train.mixup_alpha == 0.2


def test_the_shipped_recipe_is_checked_stage_by_stage(tmp_path):
    from zoo.training import recipes

    stages = recipes.plan(recipes.read("omr-resnet-bisru"), tmp_path)
    assert [s.kind for s in stages].count("train") == 12 and stages[-1].kind == "train_signs"
    last_train = [s for s in stages if s.kind == "train"][-1]
    assert last_train.name == "omr-s20" and last_train.settings["augment"]["ink"] == [0, 1]
    assert last_train.settings["train"]["learning_rate"] == 5e-5  # from the stages it is like
    assert last_train.command[last_train.command.index("--warm-start") + 1] == str(tmp_path / "omr-s17-wise85")
    bad = {"model": "omr-resnet-bisru", "stages": [{"name": "a", "train": {"train": {"minuts": 5}}}]}
    with pytest.raises(recipes.RecipeError, match="stage 'a': unknown setting 'train.minuts'; did you mean minutes"):
        recipes.plan(bad, tmp_path)
    later = {"model": "omr-resnet-bisru", "stages": [{"name": "a", "warm_start": "b", "train": {}},
                                                    {"name": "b", "train": {}}]}
    with pytest.raises(recipes.RecipeError, match="warm_start 'b' is not an earlier stage"):
        recipes.plan(later, tmp_path)
    no_alpha = {"model": "omr-resnet-bisru", "stages": [{"name": "a", "train": {}}, {"name": "b", "train": {}},
                                                       {"name": "c", "interpolate": {"start": "a", "end": "b"}}]}
    with pytest.raises(recipes.RecipeError, match="stage 'c': interpolate needs an alpha between 0 and 1"):
        recipes.plan(no_alpha, tmp_path)


def test_the_train_command_names_a_misspelt_setting():
    from click.testing import CliRunner

    from zoo.cli import main

    result = CliRunner().invoke(main, ["train", "omr-resnet-bisru", "--out", "/nonexistent/run",
                                       "--set", "train.lerning_rate=1e-4"])
    assert result.exit_code == 2 and "unknown setting 'train.lerning_rate'; did you mean learning_rate?" in \
        result.output
