"""Key signatures read sign by sign: the spelled alphabet, joining it back in Python and in the graph, training."""
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.datasets import semantic
from zoo.models import key_spelling
from zoo.models.key_spelling import FLAT, SHARP

FIXTURE_PNG = "000051652-1_2_1.png"


def test_every_key_is_spelled_as_its_signs_and_joined_back():
    for fifths in range(-7, 8):
        token = semantic.key_signature_token(fifths)
        assert semantic.key_signature_fifths(token) == fifths
        spelled = key_spelling.spell(["clef-C1", token, "timeSignature-2/4"])
        assert spelled[1:-1] == ([SHARP] * fifths if fifths > 0 else [FLAT] * -fifths if fifths else [token])
        assert key_spelling.join(spelled, [1.0] * len(spelled))[0] == ["clef-C1", token, "timeSignature-2/4"]


def test_the_primus_fixture_round_trips(primus_fixture):
    tokens = semantic.read_semantic(next(primus_fixture.glob("*.semantic")))
    spelled = key_spelling.spell(tokens)
    assert spelled[1:4] == [FLAT] * 3  # E-flat major
    assert key_spelling.join(spelled, [0.5] * len(spelled))[0] == tokens


def test_a_run_of_signs_takes_its_weakest_confidence_and_at_most_seven_signs():
    tokens, confidences = key_spelling.join(["clef-G2", FLAT, FLAT, "note-C4_quarter", SHARP] + [SHARP] * 8,
                                            [0.9, 0.5, 0.7, 0.8, 0.6] + [0.9] * 8)
    assert tokens == ["clef-G2", "keySignature-BbM", "note-C4_quarter", "keySignature-C#M"]
    assert confidences == [0.9, 0.5, 0.8, 0.6]


def test_joining_in_the_graph_agrees_with_python():
    vocabulary = key_spelling.spelled_vocabulary(["clef-G2", "note-C4_quarter", "barline", "keySignature-CM"])
    blank, rng = len(vocabulary), np.random.default_rng(0)
    rows = [list(rng.choice(blank, size=rng.integers(0, 12), p=[0.1, 0.1, 0.1, 0.1, 0.3, 0.3]))
            for _ in range(40)] + [[4] * 9, []]
    width = max(len(r) for r in rows)
    ids = tf.constant([r + [blank] * (width - len(r)) for r in rows], tf.int64)
    tokens, lengths = key_spelling.join_ids(ids, vocabulary)
    for row, out, n in zip(rows, tokens.numpy(), lengths.numpy()):
        expected = key_spelling.join([vocabulary[i] for i in row], [1.0] * len(row))[0]
        assert [t.decode() for t in out[:n]] == expected
        assert all(t == b"" for t in out[n:])


def test_label_table_turns_semantic_ids_into_spelled_ones():
    vocabulary = key_spelling.spelled_vocabulary(["clef-G2", "keySignature-DM", "keySignature-CM", "barline"])
    table = key_spelling.label_table(vocabulary)
    spelled = tf.gather(table, tf.constant([0, 1, 2, 3], tf.int64)).flat_values.numpy()
    assert [vocabulary[i] for i in spelled] == ["clef-G2", SHARP, SHARP, "keySignature-CM", "barline"]


def test_grown_sign_outputs_leave_every_other_output_as_it_was():
    from zoo.training.omr import grow_sign_outputs

    model = zoo.create_model("omr-resnet-bisru")
    grown = grow_sign_outputs(model)
    assert grown.vocabulary == model.vocabulary + [FLAT, SHARP]
    inputs = {"image": tf.random.uniform([2, 64, 96, 1], seed=3), "width": tf.constant([96, 60])}
    before, after = model.keras_model(inputs).numpy(), grown.keras_model(inputs).numpy()
    n = len(model.vocabulary)
    np.testing.assert_allclose(after[..., :n], before[..., :n], atol=1e-5)
    np.testing.assert_allclose(after[..., -1], before[..., -1], atol=1e-5)  # the blank stays last
    np.testing.assert_allclose(after[..., n], before[..., model.vocabulary.index("keySignature-FM")], atol=1e-5)
    np.testing.assert_allclose(after[..., n + 1], before[..., model.vocabulary.index("keySignature-GM")], atol=1e-5)


def test_a_spelled_models_readings_and_serving_signature_hold_semantic_tokens(primus_fixture):
    vocabulary = key_spelling.spelled_vocabulary(semantic.load_vocabulary())
    model = zoo.create_model("omr-resnet-bisru", vocabulary=vocabulary)
    last = model.keras_model.get_layer("logits")
    kernel, bias = last.get_weights()
    bias[:] = -10.0
    bias[vocabulary.index(FLAT)] = 10.0  # every frame a flat: greedy decoding merges them into one sign
    last.set_weights([kernel * 0.0, bias])
    data = (primus_fixture / FIXTURE_PNG).read_bytes()
    result = model.predict(data)
    assert result["tokens"] == ["keySignature-FM"] and len(result["token_confidences"]) == 1
    out = model.serving_signatures()["serving_default"](tf.constant([data]))
    assert int(out["lengths"][0]) == 1 and out["tokens"][0, 0].numpy() == b"keySignature-FM"


@pytest.fixture(scope="module")
def spelled_run(staff_build, tmp_path_factory):
    from zoo.training import omr as train_omr

    data, _ = staff_build
    root = tmp_path_factory.mktemp("spelled")
    start = train_omr.train("omr-resnet-bisru", data, root / "start", minutes=5, max_epochs=1, steps_per_epoch=2,
                            batch_size=4, val_samples=4, verbose=0)
    spelled = train_omr.train("omr-resnet-bisru", data, root / "spelled", minutes=5, max_epochs=1, steps_per_epoch=2,
                              batch_size=4, val_samples=4, warm_start=start["out_dir"], spell_keys=True, verbose=0)
    return data, Path(start["out_dir"]), Path(spelled["out_dir"])


def test_a_warm_start_learns_to_spell_and_its_successors_go_on(spelled_run, tmp_path):
    from zoo.training import omr as train_omr

    data, start, spelled = spelled_run
    manifest = json.loads((spelled / "manifest.json").read_text())
    assert manifest["training"]["spell_keys"] is True
    assert manifest["training"]["stages"][-1]["spell_keys"] is True
    model = zoo.load("omr-resnet-bisru", weights=spelled)
    assert key_spelling.is_spelled(model.vocabulary)
    assert model.vocabulary == (start / "vocabulary.txt").read_text().splitlines() + [FLAT, SHARP]
    summary = train_omr.evaluate(model, data, "validation", limit=4)
    assert summary["sequences"] == 4
    later = train_omr.train("omr-resnet-bisru", data, tmp_path / "later", minutes=5, max_epochs=1, steps_per_epoch=1,
                            batch_size=4, val_samples=4, warm_start=str(spelled), verbose=0)
    assert json.loads((Path(later["out_dir"]) / "manifest.json").read_text())["training"]["spell_keys"] is True


def test_a_spelling_stage_interpolates_with_the_model_it_started_from(spelled_run, tmp_path):
    from zoo.training.interpolation import interpolate
    from zoo.training.omr import grow_sign_outputs

    _, start, spelled = spelled_run
    out = interpolate("omr-resnet-bisru", str(start), str(spelled), 0.0, tmp_path / "mix")
    mixed, begin = zoo.load("omr-resnet-bisru", weights=out), zoo.load("omr-resnet-bisru", weights=start)
    assert mixed.vocabulary == zoo.load("omr-resnet-bisru", weights=spelled).vocabulary
    for w, w0 in zip(mixed.keras_model.get_weights(), grow_sign_outputs(begin).keras_model.get_weights()):
        np.testing.assert_allclose(w, w0, atol=1e-6)
    with pytest.raises(ValueError, match="different vocabularies"):  # not the other way round
        interpolate("omr-resnet-bisru", str(spelled), str(start), 0.5, tmp_path / "back")
