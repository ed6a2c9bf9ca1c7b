"""Score recognition: models, decoding, metrics, bad input, pages, serving signature, training, CLI."""
import io
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import zoo
from zoo.datasets import tfrecords
from zoo.metrics import ErrorRates, edit_ops
from zoo.models import ctc, test_time
from zoo.models.omr import ImageInputError
from zoo.notation.theory import accidental_source
from zoo.notation.vocabulary import load_vocabulary

FIXTURE_PNG = "000051652-1_2_1.png"


@pytest.fixture(scope="module")
def recognizer():
    return zoo.create_model("omr-resnet-bisru")


def _png(array: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("name", ["omr-resnet-bisru", "omr-crnn-bilstm"])
def test_models_map_width_to_time(name):
    model = zoo.create_model(name)
    assert len(model.vocabulary) == len(load_vocabulary())
    x = {"image": tf.zeros([2, 64, 400, 1]), "width": tf.constant([400, 240])}
    assert model.keras_model(x).shape == (2, 100, len(model.vocabulary) + 1)


def test_ablations_are_config_switches():
    no_fusion = zoo.create_model("omr-resnet-bisru", fusion=False)
    lstm = zoo.create_model("omr-resnet-bisru", rnn="lstm")
    assert "fusion" not in [layer.name for layer in no_fusion.keras_model.layers]
    assert any("bilstm" in layer.name for layer in lstm.keras_model.layers)


def test_predict_on_the_primus_fixture(recognizer, primus_fixture):
    result = recognizer.predict(primus_fixture / FIXTURE_PNG)
    assert set(result) == {"tokens", "confidence", "token_confidences"}
    assert all(t in recognizer.vocabulary for t in result["tokens"])
    assert 0.0 <= result["confidence"] <= 1.0
    assert len(result["token_confidences"]) == len(result["tokens"])


def test_colour_photo_is_converted(recognizer, primus_fixture):
    gray = np.asarray(Image.open(primus_fixture / FIXTURE_PNG).convert("L"))
    rgb = np.stack([gray, (gray * 0.9).astype(np.uint8), gray], -1)
    staff = recognizer.preprocess(_png(rgb, "RGB"))
    assert staff.shape[0] == 64 and staff.shape[2] == 1


def test_loose_margins_around_a_staff_are_trimmed(primus_fixture):
    """A staff cut loosely from a page normalizes as a tight crop; the margins training staves have are kept."""
    from zoo.preprocessing import image as staff_image

    gray = np.asarray(Image.open(primus_fixture / FIXTURE_PNG).convert("L"))
    h, w = gray.shape

    def padded(top: int, bottom: int, speck: bool = False) -> bytes:
        page = np.full((h + top + bottom, w), 255, np.uint8)
        page[top: top + h] = gray
        if speck:  # one dark pixel of sensor noise in the margin holds nothing open
            page[2, 2] = 0
        return _png(page)

    loose = staff_image.png_to_staff(padded(h // 2, h // 2)).numpy()
    np.testing.assert_array_equal(loose, staff_image.png_to_staff(padded(h, 3 * h, speck=True)).numpy())
    ink = gray < int(gray.max()) - staff_image.INK_DEPTH * (int(gray.max()) - int(gray.min()))
    rows = np.flatnonzero(ink.sum(1) >= 2)
    tight = rows[-1] - rows[0] + 1 + 2 * round(staff_image.TRIM_MARGIN * (rows[-1] - rows[0] + 1))
    assert loose.shape[1] == round(w * 64 / tight)
    for top, bottom in ((0, 0), (h // 20, h // 20)):  # margins like the training staves' are left as they are
        paper = staff_image.decode_image(padded(top, bottom))
        assert staff_image.trim_margins(paper).shape == paper.shape


@pytest.mark.parametrize("data, message", [
    (b"", "image bytes are empty"),
    (b"definitely not an image", "not a PNG, JPEG or BMP image"),
    (_png(np.full((100, 400), 255)), "image is blank"),
    (_png(np.zeros((8, 8))), "at least 16x16"),
    (_png(np.tile(np.array([[0, 255]]), (20, 3000))), "at most 4096 px"),
])
def test_bad_images_get_clear_errors(recognizer, data, message):
    with pytest.raises(ImageInputError, match=message):
        recognizer.predict(data)


def test_page_is_split_into_staves(recognizer, primus_fixture):
    staff = np.asarray(Image.open(primus_fixture / FIXTURE_PNG).convert("L"))
    page = np.full((3 * staff.shape[0] + 120, staff.shape[1] + 40), 255, np.uint8)
    for k in range(3):
        top = 20 + k * (staff.shape[0] + 40)
        page[top: top + staff.shape[0], 20: 20 + staff.shape[1]] = staff
    results = recognizer.recognize_page(_png(page))
    assert len(results) == 3
    assert results[0]["tokens"] == results[1]["tokens"] == results[2]["tokens"]


def test_serving_signature_takes_png_bytes(recognizer, primus_fixture):
    data = (primus_fixture / FIXTURE_PNG).read_bytes()
    out = recognizer.serving_signatures()["serving_default"](tf.constant([data, data]))
    assert out["tokens"].shape[0] == 2 and out["confidence"].shape == (2,)
    n = int(out["lengths"][0])
    assert [t.decode() for t in out["tokens"][0].numpy()[:n]] == recognizer.predict(data)["tokens"]


def test_ctc_greedy_and_beam_decoding():
    probs = np.full((6, 4), 0.01)
    for t, k in enumerate([0, 0, 3, 1, 3, 1]):  # class 3 is the blank
        probs[t, k] = 0.97
    assert ctc.greedy(probs, 6).ids == [0, 1, 1]
    assert ctc.beam(probs, 6, 4).ids == [0, 1, 1]
    assert ctc.greedy(probs, 6).confidence == pytest.approx(0.97)


def test_beam_finds_the_labelling_that_no_single_path_wins():
    probs = np.array([[0.4, 0.6], [0.4, 0.6]])  # token 0, blank 1: "" is the best path (0.36), [0] sums to 0.64
    assert ctc.greedy(probs, 2).ids == []
    assert ctc.beam(probs, 2, 2).ids == [0]


def test_beam_agrees_with_exhaustive_search_over_all_paths():
    rng = np.random.default_rng(0)
    steps, classes = 7, 4
    for _ in range(5):
        probs = rng.dirichlet(np.full(classes, 0.5), size=steps)
        totals: dict[tuple[int, ...], float] = {}
        for path in itertools.product(range(classes), repeat=steps):
            labels = tuple(k for i, k in enumerate(path) if k != classes - 1 and (i == 0 or k != path[i - 1]))
            totals[labels] = totals.get(labels, 0.0) + float(np.prod(probs[np.arange(steps), path]))
        best = max(totals, key=totals.get)
        assert tuple(ctc.beam(probs, steps, width=200, prune=0.0).ids) == best


def test_symbol_error_rate_and_breakdown():
    ops = edit_ops(["clef-G2", "note-A4_quarter", "barline"], ["clef-G2", "note-B4_eighth", "barline", "barline"])
    assert [op for op, _, _ in ops] == ["match", "sub", "ins", "match"]
    rates = ErrorRates()
    rates.add(["clef-G2", "note-A4_quarter", "barline"], ["clef-G2", "note-B4_eighth", "barline", "barline"])
    rates.add(["barline"], ["barline"])
    s = rates.summary()
    assert s["ser"] == pytest.approx(2 / 4) and s["sequence_error_rate"] == 0.5
    assert s["errors_by_type"]["pitch"] == 1 and s["errors_by_type"]["duration"] == 1
    assert s["errors_by_type"]["barline"] == 1
    assert s["pitch_errors"] == {"accidental from the key signature": 0, "accidental carried in the bar": 0,
                                 "accidental printed on the note": 0, "position": 1, "note missing or extra": 0}


def test_multirests_are_counted_by_how_they_were_read():
    head = ["clef-G2", "keySignature-CM", "timeSignature-4/4"]
    rates = ErrorRates()
    rates.add(head + ["multirest-4", "barline"], head + ["multirest-4", "barline"])
    rates.add(head + ["multirest-23", "barline"], head + ["multirest-18", "barline"])
    rates.add(head + ["multirest-23", "barline"], head + ["barline"])
    rates.add(head + ["multirest-16", "barline"], head + ["note-B4_eighth", "barline"])
    assert rates.summary()["multirests"] == {"2-15 bars": {"right": 1, "other count": 0, "missed": 0},
                                             "16+ bars": {"right": 0, "other count": 1, "missed": 2}}


def test_pitch_errors_say_which_part_of_the_pitch_was_misread():
    rates = ErrorRates()
    rates.add(["note-G#4_half", "note-G#4_half", "note-A4_whole"], ["note-G#4_half", "note-G4_half", "note-C5_whole"])
    rates.add(["note-Bb3_quarter", "gracenote-C4_eighth"], ["note-Bb3_quarter"])
    rates.add(["note-G4_half", "note-Bb4_quarter"], ["rest-half", "note-B4_quarter"])  # a note read as a rest
    rates.add(["note-G4_half"], ["gracenote-G4_half"])
    rates.add(["keySignature-DM", "note-F#4_half", "barline", "note-C#5_half"], ["keySignature-DM", "note-F#4_half",
                                                                                  "barline", "note-C5_half"])
    assert rates.summary()["pitch_errors"] == {
        "accidental from the key signature": 1, "accidental carried in the bar": 1, "accidental printed on the note": 1,
        "position": 1, "note missing or extra": 3}


def test_accidental_source_follows_how_a_musician_reads_the_staff():
    staff = ["clef-G2", "keySignature-DM", "timeSignature-3/4", "note-F#4_quarter", "note-F#5_quarter",
             "note-C4_quarter", "tie", "barline", "note-C4_quarter", "note-C4_quarter", "note-C#4_quarter", "barline",
             "note-Bb4_quarter", "note-Bb4_quarter", "note-B4_quarter", "barline", "gracenote-F4_eighth",
             "note-F4_quarter", "note-F#4_half"]
    sources = {i: accidental_source(staff, i) for i, t in enumerate(staff) if t.startswith(("note", "grace"))}
    assert sources == {
        3: "key signature", 4: "key signature",  # a key's sharp holds in every octave
        5: "on the note",  # C natural in D major needs its sign
        8: "carried",  # tied over the bar line
        9: "on the note", 10: "on the note",  # the tie carries one note only; C# again needs a sign after the natural
        12: "on the note", 13: "carried", 14: "on the note",  # B flat is printed, holds, and a natural cancels it
        16: "on the note", 17: "carried", 18: "on the note",  # a grace note's accidental holds for the bar too
    }
    with pytest.raises(ValueError, match="not a note"):
        accidental_source(staff, 0)


@pytest.mark.parametrize("name", ["omr-resnet-bisru", "omr-crnn-bilstm"])
def test_shipped_weights_read_staves_they_never_saw(name, staff_build):
    """A fresh engraving of corpus incipits (every split; mostly pieces the model did not train on)."""
    from zoo.training import omr as train_omr

    data, _ = staff_build
    model = zoo.load(name)
    assert model.manifest.sha256 and len(model.vocabulary) > len(load_vocabulary())
    totals = ErrorRates()
    for split in set(tfrecords.splits_with_records(data, "staff")) & {"train", "validation", "test"}:
        s = train_omr.evaluate(model, data, split, by="key")
        totals.errors += s["errors"]
        totals.reference_tokens += s["reference_tokens"]
        # every staff falls in the group of its key signature, and the groups add up
        assert all(key.startswith("keySignature-") or key == "no keySignature" for key in s["by_key"])
        for field in ("sequences", "errors", "reference_tokens"):
            assert sum(g[field] for g in s["by_key"].values()) == s[field]
    assert totals.reference_tokens > 300
    with pytest.raises(ValueError, match="unknown grouping 'font'"):
        train_omr.evaluate(model, data, "test", by="font")
    assert totals.ser < 0.5, f"{name}: SER {totals.ser:.3f} (untrained weights score ≈ 1.0)"


def test_readings_vote_by_count_then_confidence():
    def reading(tokens, confidence):
        return {"tokens": tokens, "confidence": confidence, "token_confidences": [confidence] * len(tokens)}

    a, b = ["clef-G2", "note-C5_quarter"], ["clef-G2", "note-Cb5_quarter"]
    result = test_time.vote([reading(a, 0.6), reading(b, 0.99), reading(a, 0.7)])
    assert result["tokens"] == a and result["confidence"] == 0.7
    assert result["agreement"] == pytest.approx(2 / 3, abs=1e-4)
    assert test_time.vote([reading(a, 0.6), reading(b, 0.9)])["tokens"] == b  # a tie goes to the more confident
    with pytest.raises(ValueError, match="no readings"):
        test_time.vote([])


def test_test_time_augmentation_picks_one_of_the_spacings_readings(primus_fixture):
    from zoo.preprocessing import image as staff_image

    model = zoo.load("omr-resnet-bisru")
    staff = model.preprocess(primus_fixture / FIXTURE_PNG)
    readings = [model.recognize_staves([staff_image.rescale_width(staff, scale).numpy()])[0]["tokens"]
                for scale in test_time.WIDTH_SCALES]
    voted = model.recognize_staves([staff, staff[:, : staff.shape[1] // 2]], tta=True)
    assert len(voted) == 2 and voted[0]["tokens"] in readings
    assert voted[0]["agreement"] == pytest.approx(readings.count(voted[0]["tokens"]) / len(readings), abs=1e-4)
    assert model.predict(primus_fixture / FIXTURE_PNG, tta=True) == voted[0]


@pytest.fixture(scope="module")
def short_run(staff_build, tmp_path_factory):
    """A 3-step training run (weights, vocabulary, manifest) and its summary."""
    from zoo.training import omr as train_omr

    data, _ = staff_build
    # the build is its own "extra" data here, twice: the mixing path runs, whatever it draws
    summary = train_omr.train("omr-resnet-bisru", data, tmp_path_factory.mktemp("omr") / "run", minutes=5,
                              max_epochs=1, steps_per_epoch=3, batch_size=4, val_samples=4, lr_schedule="cosine",
                              extra_data=[str(data), str(data)], extra_share=[0.2, 0.1], ema_decay=0.9,
                              width_scale=[0.8, 1.25], verbose=0)
    return summary, Path(summary["out_dir"])


def test_short_training_run_and_reload(short_run):
    summary, run = short_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["training"]["lr_schedule"] == "cosine"
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
    summary = train_omr.train("omr-resnet-bisru", data, tmp_path / "run", minutes=5, max_epochs=1,
                              steps_per_epoch=2, batch_size=4, val_samples=4, warm_start=str(start),
                              train_only=["bisru1", "logits"], verbose=0)
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
    with pytest.raises(ValueError, match="whole pixels"):  # refused before the model is built
        train_omr.train("omr-resnet-bisru", data, tmp_path / "run", ink=[0.5, 1])
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


def test_extra_sources_need_one_share_each_and_leave_the_staff_data_some(tmp_path):
    from zoo.training.omr import extra_sources

    assert extra_sources(None, 0.3) == ([], [])
    assert extra_sources(str(tmp_path), 0.15) == ([str(tmp_path)], [0.15])
    with pytest.raises(ValueError, match="one share per extra_data folder"):
        extra_sources([str(tmp_path), str(tmp_path)], 0.15)
    with pytest.raises(ValueError, match="together < 1"):
        extra_sources([str(tmp_path), str(tmp_path)], [0.6, 0.4])
    with pytest.raises(FileNotFoundError, match="staff-keys"):
        extra_sources(str(tmp_path / "staff-keys"), 0.1)
    assert extra_sources(tmp_path, ".3") == ([str(tmp_path)], [0.3])  # a Path; --set extra_share=.3 stays a str
    with pytest.raises(ValueError, match="a number or a list of numbers"):
        extra_sources(tmp_path, "most")


def test_staves_are_grouped_by_the_signature_they_open_with():
    from zoo.training.omr import opening_group

    staff = ["clef-C1", "keySignature-EbM", "timeSignature-2/4", "note-Bb4_eighth", "barline", "keySignature-AbM"]
    assert opening_group(staff, "key") == "keySignature-EbM"
    assert opening_group(staff, "clef") == "clef-C1"
    # a key change later in the staff is not the key it opens in
    assert opening_group(["clef-G2", "note-C4_half", "barline", "keySignature-GM"], "key") == "no keySignature"


def test_cosine_learning_rate_follows_the_wall_time_budget():
    from zoo.training.omr import learning_rate_at

    assert learning_rate_at(1e-3, "constant", 0.7) == 1e-3
    assert learning_rate_at(1e-3, "cosine", 0.0) == pytest.approx(1e-3)
    assert learning_rate_at(1e-3, "cosine", 0.5) == pytest.approx(0.51e-3)
    assert learning_rate_at(1e-3, "cosine", 1.0) == learning_rate_at(1e-3, "cosine", 2.0) == pytest.approx(2e-5)
    with pytest.raises(ValueError, match="lr_schedule"):
        learning_rate_at(1e-3, "linear", 0.5)


def test_cli_recognize_json_and_musicxml(recognizer, primus_fixture, tmp_path):
    weights = tmp_path / "w.h5"
    recognizer.keras_model.save_weights(str(weights))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    scorezoo = Path(sys.executable).with_name("scorezoo")
    result = subprocess.run([str(scorezoo), "recognize", str(bad), str(primus_fixture / FIXTURE_PNG), "--weights",
                             str(weights), "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["file"] == str(bad) and "error" in lines[0]
    assert lines[1]["file"].endswith(FIXTURE_PNG) and isinstance(lines[1]["tokens"], list)


def test_cli_evaluate_scores_a_split_and_names_a_missing_one(staff_build):
    from click.testing import CliRunner

    from zoo.cli import main

    data, _ = staff_build
    split = next(s for s in ("test", "validation", "train") if s in tfrecords.splits_with_records(data, "staff"))
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split", split])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["split"] == split and 0 <= summary["ser"] < 0.5 and "errors_by_type" in summary
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split", "tset"])
    assert result.exit_code != 0 and "'tset' split" in result.output and "found: " in result.output
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split", split,
                                       "--width-scale", "1.25"])
    assert result.exit_code == 0, result.output
    stretched = json.loads(result.output)
    assert stretched["width_scale"] == 1.25 and stretched["reference_tokens"] == summary["reference_tokens"]
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split", split, "--tta"])
    assert result.exit_code == 0, result.output
    voted = json.loads(result.output)
    assert voted["tta"] is True and voted["reference_tokens"] == summary["reference_tokens"]
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split", split,
                                       "--margin", "0.25"])
    assert result.exit_code == 0, result.output
    loose = json.loads(result.output)  # trimmed back to the ink, so read about as the tight crops
    assert loose["margin"] == 0.25 and loose["ser"] < summary["ser"] + 0.02
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--width-scale", "0"])
    assert result.exit_code != 0 and "--width-scale" in result.output
    subsets = [json.loads(CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--split",
                                                    split, "--limit", "2"]).output) for _ in range(2)]
    assert subsets[0]["limit"] == 2 and subsets[0]["sequences"] == 2 and subsets[0] == subsets[1]  # the same two
    result = CliRunner().invoke(main, ["evaluate", "omr-resnet-bisru", "--data", str(data), "--limit", "0"])
    assert result.exit_code != 0 and "--limit" in result.output


def test_cli_refuses_a_negative_beam_width(primus_fixture):
    from click.testing import CliRunner

    from zoo.cli import main

    result = CliRunner().invoke(main, ["recognize", str(primus_fixture / FIXTURE_PNG), "--beam", "-2"])
    assert result.exit_code == 2 and "--beam" in result.output and "-2" in result.output


def test_cli_recognize_with_test_time_augmentation_says_how_many_readings_agree(primus_fixture):
    from click.testing import CliRunner

    from zoo.cli import main

    result = CliRunner().invoke(main, ["recognize", str(primus_fixture / FIXTURE_PNG), "--tta", "--json"])
    assert result.exit_code == 0, result.output
    entry = json.loads(result.output.splitlines()[-1])
    assert entry["tokens"] and 0 < entry["agreement"] <= 1


def test_bench_omr_carries_over_runs_whose_folders_are_gone():
    from benchmarks import omr as bench

    def figures(staves: int, ser: float) -> dict:
        rates = {"ser": ser, "sequence_error_rate": 2 * ser, "sequences": staves, "reference_tokens": 19 * staves,
                 "errors_by_type": {"pitch": 3, "duration": 1}}
        return {"test": rates, "test_distorted": rates}

    seed = {**figures(3739, 0.09), "params": 1.84e6, "training": {"train_seconds": 1328, "epochs": 9}}
    previous = {"measured": "2026-11-25 19:20 UTC", "models": {bench.SEED: seed}}
    assert bench.carried_over(bench.SHIPPED, previous) is None and bench.carried_over(bench.SEED, None) is None
    carried = bench.carried_over(bench.SEED, previous)
    assert carried["carried_over"] == {"measured": "2026-11-25 19:20 UTC", "test_staves": 3739,
                                       "test_tokens": 19 * 3739}
    assert "carried_over" not in previous["models"][bench.SEED]  # the previous results are left as they were
    shipped = {**figures(3743, 0.0093), "params": 1.84e6,
               "training": {"total_train_seconds": 120, "stages": [
                   {"train_seconds": 60, "images_seen": 5},
                   {"train_seconds": 0, "images_seen": 0, "interpolation": {"alpha": 0.5}},
                   {"train_seconds": 60, "images_seen": 7}]}}
    text = bench.markdown({"models": {bench.SEED: carried, bench.SHIPPED: shipped},
                           "layer_step_seconds": {"sru": 0.03, "lstm": 0.08}, "model_step_seconds": {}})
    assert "test split: 3,743 staves" in text  # the split measured now, not the carried-over one
    assert f"| {bench.SEED} † |" in text and f"| {bench.SHIPPED} |" in text
    assert "carried over from the measurement of 2026-11-25 19:20 UTC" in text and "3,739 test staves" in text
    assert "2 min in 2 stages: 1 + 1, and 1 weight interpolation | 12 |" in text


def test_benchmark_stamp_flags_uncommitted_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from benchmarks import report

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    for name in ("weights.h5", "BENCHMARKS.md", "benchmarks/results/bench.json"):
        (tmp_path / name).write_text("a")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "x")
    monkeypatch.setattr(report, "ROOT", tmp_path)
    head = report.commit()
    assert len(head) >= 7 and " " not in head
    (tmp_path / "BENCHMARKS.md").write_text("b")  # results being written do not count
    (tmp_path / "benchmarks/results/bench.json").write_text("b")
    (tmp_path / "untracked.txt").write_text("b")
    assert report.commit() == head
    (tmp_path / "weights.h5").write_text("b")  # measuring weights that are not committed yet does
    assert report.commit() == f"{head} with uncommitted changes"


def test_beam_confidences_follow_the_best_alignment():
    # two equal tokens then another: each token's confidence comes from its own frames (greedy alignment gave the
    # first C5 the second one's frame and the second C5 a confidence of about 0)
    probs = np.full((5, 4), 0.01)
    for t, k in enumerate([0, 3, 0, 3, 1]):
        probs[t, k] = 0.97
    probs[2, 0] = 0.99
    decoded = ctc.beam(probs, 5, 4)
    assert decoded.ids == [0, 0, 1]
    assert min(decoded.confidences) > 0.9
    assert decoded.frames == [0, 2, 4]  # where each token's run starts: a sign head looks just before it
    rng = np.random.default_rng(1)
    for _ in range(50):  # the greedy labelling's best path is the greedy path itself
        probs = rng.dirichlet(np.full(4, 0.5), size=6)
        greedy = ctc.greedy(probs, 6)
        if greedy.ids:
            confidences, frames = ctc._align(probs, greedy.ids)
            assert confidences == pytest.approx(greedy.confidences)
            assert frames == greedy.frames


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
    assert model.signs is not None and model.sign_threshold == entry["threshold"]
    pngs = [p.read_bytes() for p in sorted(data.glob("samples/*/*.png"))[:3]]
    local = [model.predict(png)["tokens"] for png in pngs]
    signature = model.serving_signatures()["serving_default"]
    served = signature(tf.constant(pngs))
    assert [[t.decode() for t in row[:n]] for row, n in zip(served["tokens"].numpy(), served["lengths"].numpy())] \
        == local
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
