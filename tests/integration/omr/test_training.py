"""Training score recognizers for a few steps: runs and reloads, frozen layers, augmentations, interpolation,
the sign head."""
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.decoding import ReadingConfig
from zoo.training.configs import OmrAugment, OmrConfig, training_config

FIXTURE_PNG = "000051652-1_2_1.png"


@pytest.fixture(scope="module")
def short_run(staff_build, tmp_path_factory):
    """A 3-step training run (weights, vocabulary, manifest) and its summary."""
    from zoo.training import omr as train_omr

    data, _ = staff_build
    # the build is its own "extra" data here, twice: the mixing path runs, whatever it draws
    config = training_config("omr-resnet-bisru", base={
        "train": {"minutes": 5, "max_epochs": 1, "steps_per_epoch": 3, "batch_size": 4, "val_samples": 4,
                  "schedule": "cosine", "ema_decay": 0.9, "verbose": 0},
        "augment": {"width_scale": [0.8, 1.25]},
        "data": {"extra_data": [str(data), str(data)], "extra_share": [0.2, 0.1]}})
    summary = train_omr.train("omr-resnet-bisru", data, tmp_path_factory.mktemp("omr") / "run", config)
    return summary, Path(summary["out_dir"])


def test_short_training_run_and_reload(short_run):
    summary, run = short_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["training"]["schedule"] == "cosine"
    assert manifest["training"]["ema_decay"] == manifest["training"]["stages"][-1]["ema_decay"] == 0.9
    assert manifest["training_data"]["extra_share"] == [0.2, 0.1]
    assert manifest["training"]["width_scale"] == manifest["training"]["stages"][-1]["width_scale"] == [0.8, 1.25]
    assert [c["dataset"] for c in manifest["training_data"]["extra_build_config"]] == ["staff", "staff"]
    for name in ("manifest.json", "omr-resnet-bisru.weights.h5", "vocabulary.txt", "training_curves.png"):
        assert (run / name).is_file(), name
    loaded = zoo.load("omr-resnet-bisru", weights=run)
    assert loaded.vocabulary == (run / "vocabulary.txt").read_text().splitlines()
    assert summary["images_seen"] > 0


def test_a_stage_can_train_only_some_layers(short_run, staff_build, tmp_path):
    from zoo.training import omr as train_omr

    _, start = short_run
    data, _ = staff_build
    config = training_config("omr-resnet-bisru", ["train.minutes=5", "train.max_epochs=1", "train.steps_per_epoch=2",
                                                  "train.batch_size=4", "train.val_samples=4", "train.verbose=0",
                                                  'train.train_only=["bisru1", "logits"]'])
    summary = train_omr.train("omr-resnet-bisru", data, tmp_path / "run", config, warm_start=str(start))
    before = zoo.load("omr-resnet-bisru", weights=start).keras_model
    after = zoo.load("omr-resnet-bisru", weights=summary["out_dir"]).keras_model

    def same(layer: str) -> bool:
        return all(np.array_equal(a, b) for a, b in zip(before.get_layer(layer).get_weights(),
                                                        after.get_layer(layer).get_weights()))

    # the frozen CNN keeps its BatchNorm statistics too, not only its kernels
    assert same("res0") and same("fusion") and same("bisru0")
    assert not same("bisru1") and not same("logits")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["training"]["train_only"] == manifest["training"]["stages"][-1]["train_only"] == ["bisru1",
                                                                                                      "logits"]
    with pytest.raises(ValueError, match="no layer name starts with lstm"):
        train_omr.train_only_layers(before, ["bisru", "lstm"])


def _training_widths(data: Path, **augment) -> list[int]:
    """The normalized widths of a build's training staves, as make_dataset gives them with these options."""
    from zoo.training import omr as train_omr

    ds = train_omr.make_dataset(data, "train", train_omr.training_vocabulary(data), 64, 64, **augment)
    return sorted(w for inputs, _ in ds for w in inputs["width"].numpy().tolist())


def test_training_staves_can_be_stretched_horizontally(staff_build):
    from zoo.preprocessing.image import MAX_WIDTH, rescale_width
    from zoo.training import omr as train_omr

    staff = tf.random.uniform([64, 100, 1])
    assert rescale_width(staff, 1.5).shape == (64, 150, 1) and rescale_width(staff, 0.5).shape == (64, 50, 1)
    assert rescale_width(staff, 100.0).shape[1] == MAX_WIDTH
    data, _ = staff_build
    plain = _training_widths(data)
    assert _training_widths(data, width_scale=[2, 2], width_scale_probability=1.0) == sorted(2 * w for w in plain)
    assert _training_widths(data, width_scale=[2, 2], width_scale_probability=0.0) == plain
    with pytest.raises(ValueError, match="width_scale"):
        train_omr.make_dataset(data, "train", [], 4, 64, width_scale=[1.5, 0.7])


def test_training_staves_can_get_loose_margins(staff_build):
    from zoo.preprocessing.image import add_margins
    from zoo.training import omr as train_omr

    paper = tf.zeros([100, 40, 1])
    assert add_margins(paper, 0.1).shape == (120, 40, 1) and add_margins(paper, 0.3, 0.0).shape == (130, 40, 1)
    assert float(tf.reduce_min(add_margins(paper, 0.0, 0.2)[100:])) == 1.0  # the added rows are white paper
    data, _ = staff_build
    plain = _training_widths(data)
    # margins under trim_margins' limit are kept, so the staff shrinks in height and its normalized width with it
    narrower = _training_widths(data, margin=[0.2, 0.2], margin_probability=1.0)
    assert all(n < p for n, p in zip(narrower, plain))
    assert _training_widths(data, margin=[0.2, 0.2], margin_probability=0.0) == plain
    with pytest.raises(ValueError, match="margin"):
        train_omr.make_dataset(data, "train", [], 4, 64, margin=[0.3, 0.1])


def test_training_staves_can_get_bolder_ink(staff_build, tmp_path):
    from zoo.preprocessing.image import embolden
    from zoo.training import omr as train_omr

    paper = tf.tensor_scatter_nd_update(tf.ones([9, 7, 1]), [[4, 3, 0]], [0.0])  # one ink pixel

    def ink(image: tf.Tensor) -> list[list[int]]:
        return tf.where(image[..., 0] < 0.5).numpy().tolist()

    assert ink(embolden(paper, 0, 0)) == [[4, 3]]
    assert ink(embolden(paper, 2, 0)) == [[4, 3], [5, 3], [6, 3]]  # a 1-px line becomes 3 px
    assert ink(embolden(paper, 1, 1)) == [[4, 3], [4, 4], [5, 3], [5, 4]]
    data, _ = staff_build
    vocab = train_omr.training_vocabulary(data)

    def first_staves(**augment):
        inputs, _ = next(iter(train_omr.make_dataset(data, "train", vocab, 64, 64, **augment)))
        return inputs["image"].numpy()

    plain = first_staves()
    bold = first_staves(ink=[2, 2], ink_probability=1.0)
    assert bold.shape == plain.shape and bold.sum() > 1.2 * plain.sum()  # normalized staves are ink = 1
    assert (first_staves(ink=[2, 2], ink_probability=0.0) == plain).all()
    for bad in ([2, 1], [0.5, 1]):
        with pytest.raises(ValueError, match="ink"):
            train_omr.make_dataset(data, "train", [], 4, 64, ink=bad)
    with pytest.raises(ValueError, match=r"augment.ink\[0\] takes a whole number, got 0.5"):  # before any work
        training_config("omr-resnet-bisru", ["augment.ink=[0.5, 1]"])
    with pytest.raises(ValueError, match="augment.ink must be"):
        train_omr.train("omr-resnet-bisru", data, tmp_path / "run", OmrConfig(augment=OmrAugment(ink=(2, 1))))
    assert not (tmp_path / "run").exists()


def test_interpolated_weights_lie_between_two_runs_of_one_lineage(short_run, tmp_path):
    from zoo.pretrained import write_manifest
    from zoo.training.interpolation import interpolate

    _, run = short_run
    manifest = json.loads((run / "manifest.json").read_text())
    # a "continued" run: the same files with every weight moved, recorded as a second stage
    later = tmp_path / "later"
    model = zoo.load("omr-resnet-bisru", weights=run)
    start = model.keras_model.get_weights()
    model.keras_model.set_weights([w + 1.0 for w in start])
    later.mkdir()
    model.keras_model.save_weights(str(later / "omr-resnet-bisru.weights.h5"))
    (later / "vocabulary.txt").write_text((run / "vocabulary.txt").read_text())
    stages = manifest["training"]["stages"] + [{"run": str(later), "train_seconds": 2.0}]
    write_manifest(later, "omr-resnet-bisru", "omr-resnet-bisru.weights.h5",
                   **{k: v for k, v in manifest.items() if k not in ("name", "weights", "training")},
                   training={"stages": stages})

    out = interpolate("omr-resnet-bisru", str(run), str(later), 0.25, tmp_path / "mix")
    mixed = zoo.load("omr-resnet-bisru", weights=out)  # its manifest's sha256 checks out
    for w, w0 in zip(mixed.keras_model.get_weights(), start):
        np.testing.assert_allclose(w, w0 + 0.25, rtol=1e-5, atol=1e-5)
    written = json.loads((out / "manifest.json").read_text())
    assert written["training"]["interpolation"]["alpha"] == 0.25
    # each stage once, then the interpolation as a stage of its own
    assert [s["run"] for s in written["training"]["stages"]] == [s["run"] for s in stages] + [str(out)]
    assert written["training"]["stages"][-1]["interpolation"] == written["training"]["interpolation"]
    assert written["metrics"] == {} and written["training_data"] == manifest["training_data"]

    with pytest.raises(FileExistsError, match="already holds a run"):  # never over a run, its inputs included
        interpolate("omr-resnet-bisru", str(run), str(later), 0.5, later)
    zoo.load("omr-resnet-bisru", weights=later)  # still loads: its weights still match their sha256
    with pytest.raises(ValueError, match="alpha must be in"):
        interpolate("omr-resnet-bisru", str(run), str(later), 1.5, tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        interpolate("omr-resnet-bisru", str(run), str(tmp_path), 0.5, tmp_path / "bad")
    other = tmp_path / "other"
    other.mkdir()
    (other / "omr-resnet-bisru.weights.h5").write_bytes((run / "omr-resnet-bisru.weights.h5").read_bytes())
    (other / "vocabulary.txt").write_text((run / "vocabulary.txt").read_text())
    write_manifest(other, "omr-resnet-bisru", "omr-resnet-bisru.weights.h5",
                   **{**{k: v for k, v in manifest.items() if k not in ("name", "weights")},
                      "config": {**manifest["config"], "fusion": not manifest["config"]["fusion"]}})
    with pytest.raises(ValueError, match="different model configs"):
        interpolate("omr-resnet-bisru", str(run), str(other), 0.5, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_a_trained_sign_head_ships_in_its_run_and_serving_reads_as_python(short_run, staff_build, tmp_path):
    from serving.export import export
    from zoo.pretrained import WeightsError
    from zoo.training.sign_head import train_sign_head

    data, _ = staff_build
    _, run = short_run
    out = train_sign_head("omr-resnet-bisru", str(run), tmp_path / "signs", data, staves=24, epochs=1)
    written = json.loads((out / "manifest.json").read_text())
    entry = written["sign_head"]
    assert entry["file"] == "signs.weights.h5" and len(entry["sha256"]) == 64
    assert written["training"]["stages"][-1]["sign_head"]["staves"] >= 24
    model = zoo.load("omr-resnet-bisru", weights=out)
    assert model.signs is not None and model.reading == ReadingConfig() == ReadingConfig.from_dict(written["reading"])
    pngs = [p.read_bytes() for p in sorted(data.glob("samples/*/*.png"))[:3]]
    local = [model.predict(png) for png in pngs]
    signature = model.serving_signatures()["serving_default"]
    served = signature(tf.constant(pngs))
    assert [[t.decode() for t in row[:n]] for row, n in zip(served["tokens"].numpy(), served["lengths"].numpy())] \
        == [r["tokens"] for r in local]
    np.testing.assert_allclose(served["confidence"].numpy(), [r["confidence"] for r in local], atol=1e-5)
    assert (export("omr-resnet-bisru", tmp_path / "export", model=model) / "saved_model.pb").is_file()
    (out / "manifest.json").write_text(json.dumps({**written, "sign_head": {**entry, "alphabet": ["sign-sharp"]}}))
    with pytest.raises(WeightsError, match="sign head was trained to read .* train it again"):
        zoo.load("omr-resnet-bisru", weights=out)
    (out / "manifest.json").write_text(json.dumps(written))
    (out / "signs.weights.h5").write_bytes(b"not the head")
    with pytest.raises(WeightsError, match="sign head weights .* corrupt or were replaced"):
        zoo.load("omr-resnet-bisru", weights=out)
    with pytest.raises(FileExistsError, match="already holds a run"):
        train_sign_head("omr-resnet-bisru", str(run), out, data, staves=4, epochs=1)


def test_training_staves_can_be_photographed(staff_build):
    from zoo.training import configs
    from zoo.training import omr as train_omr

    assert configs.training_config("omr-resnet-bisru", ["augment.photo=true"]).augment.photo is True
    assert train_omr.TRAINING_PHOTO.max_rotation_deg == 5.0 and train_omr.TRAINING_PHOTO.lighting_prob > 0
    data, _ = staff_build
    vocab = train_omr.training_vocabulary(data)

    def first(**augment):
        inputs, _ = next(iter(train_omr.make_dataset(data, "train", vocab, 4, 64, **augment)))
        return inputs["image"].numpy()

    plain, photo = first(augment_probability=1.0), first(augment_probability=1.0, photo=True)
    assert plain.shape == photo.shape and not np.allclose(plain, photo)
