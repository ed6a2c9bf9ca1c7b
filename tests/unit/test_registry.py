"""The model-zoo registry: names, creation, pretrained manifests with hash-checked weights."""
import json

import pytest
import tensorflow as tf

import zoo
from zoo import registry
from zoo.pretrained import WeightsError, write_manifest


class TinyModel(zoo.ZooModel):
    def preprocess(self, raw):
        return tf.convert_to_tensor(raw, tf.float32)

    def predict(self, inputs):
        probs = self.keras_model(self.preprocess(inputs)).numpy()
        return [self.labels[i] for i in probs.argmax(-1)]


def _tiny_builder(units: int = 3):
    inputs = tf.keras.Input((4,))
    outputs = tf.keras.layers.Dense(units, activation="softmax")(inputs)
    return TinyModel("test-tiny", tf.keras.Model(inputs, outputs), {"units": units}, labels=list("abc")[:units])


@pytest.fixture
def tiny():
    zoo.register_model("test-tiny", task="classification", input_spec={"x": [4]}, overwrite=True)(_tiny_builder)
    zoo.register_model("test-tinier", task="classification", input_spec={"x": [4]}, overwrite=True)(_tiny_builder)
    yield "test-tiny"
    registry.unregister_model("test-tiny")
    registry.unregister_model("test-tinier")


def test_tf_keras_is_legacy_keras_after_import_zoo():
    import tf_keras

    assert tf.keras.Model is tf_keras.Model
    assert tf.keras.layers.Dense is tf_keras.layers.Dense


def test_list_and_create(tiny):
    assert "test-tiny" in zoo.list_models()
    assert zoo.list_models("test-tin*") == ["test-tinier", "test-tiny"]
    model = zoo.create_model("test-tiny", units=2)
    assert model.keras_model.output_shape == (None, 2)
    assert zoo.get_spec("test-tiny").summary()["pretrained"] is False


def test_unknown_name_lists_registered_and_close_matches(tiny):
    with pytest.raises(zoo.UnknownModelError) as err:
        zoo.create_model("test-tinny")
    message = str(err.value)
    assert "Unknown model 'test-tinny'" in message
    assert "Did you mean 'test-tiny'" in message
    assert "test-tinier" in message


def test_duplicate_registration_is_refused(tiny):
    with pytest.raises(ValueError, match="already registered"):
        zoo.register_model("test-tiny", task="x", input_spec={})(lambda: None)


def _ship_pretrained(tmp_path, tiny_name):
    """Train nothing, but save weights + manifest under $SCOREZOO_HOME/pretrained like a release."""
    home = zoo.paths.home()
    model = zoo.create_model(tiny_name)
    directory = home / "pretrained" / tiny_name
    directory.mkdir(parents=True, exist_ok=True)
    model.keras_model.save_weights(str(directory / "weights.h5"))
    manifest = write_manifest(
        directory, tiny_name, "weights.h5",
        config={"units": 3}, labels=["a", "b", "c"], input_spec={"x": [4]},
        preprocessing={}, training_data={"dataset": "none"}, metrics={"accuracy": 0.0},
    )
    return model, manifest


def test_load_pretrained_verifies_hash(tmp_path, tiny):
    model, manifest = _ship_pretrained(tmp_path, tiny)
    loaded = zoo.load(tiny)
    x = tf.ones((2, 4))
    assert (loaded.keras_model(x).numpy() == pytest.approx(model.keras_model(x).numpy()))
    assert loaded.predict([[1, 2, 3, 4]])[0] in {"a", "b", "c"}
    assert tiny in zoo.list_models(pretrained=True)
    assert json.loads(json.dumps(zoo.get_spec(tiny).summary()))["pretrained"] is True

    manifest.weights_path.write_bytes(manifest.weights_path.read_bytes() + b"tampered")
    with pytest.raises(WeightsError, match="weights.h5 has sha256"):
        zoo.load(tiny)
    manifest.weights_path.unlink()
    with pytest.raises(WeightsError, match="not found"):
        zoo.load(tiny)
    (manifest.directory / "manifest.json").unlink()


def test_load_without_pretrained_is_a_clear_error(tiny):
    with pytest.raises(WeightsError, match="No pretrained weights ship for 'test-tiny'"):
        zoo.load("test-tiny")


def test_load_from_weights_path_and_bad_file(tmp_path, tiny):
    model = zoo.create_model(tiny)
    path = tmp_path / "w.h5"
    model.keras_model.save_weights(str(path))
    assert zoo.load(tiny, weights=path).keras_model.count_params() == model.keras_model.count_params()
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="bad.h5"):
        zoo.load(tiny, weights=bad)


def test_manifest_paths_are_relative_to_the_checkout(tmp_path):
    checkout = zoo.paths.source_checkout()
    if checkout is None:
        pytest.skip("not a source checkout")
    assert zoo.paths.portable(checkout / "data" / "cache" / "staff") == "data/cache/staff"
    assert zoo.paths.portable(tmp_path) == str(tmp_path)
