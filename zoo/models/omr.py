"""Score recognition: a staff image → PrIMuS semantic tokens, trained with CTC.

``omr-resnet-bisru`` is the seed paper's model: a residual CNN with LeakyReLU + BN,
multiscale fusion of a shallow high-resolution map with the deep map, a
bidirectional SRU and CTC. ``omr-crnn-bilstm`` is the Calvo-Zaragoza & Rizo (2018)
CRNN baseline (plain conv blocks + BiLSTM). Ablations are config switches:
``fusion=False`` drops the shallow branch, ``rnn="lstm"`` swaps BiSRU for BiLSTM.

The network sees a height-normalized, ink-white staff [64, W, 1] and its true width;
the time axis is the image width / 4, masked past each image's width.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from zoo import config as config_lib
from zoo.config import ConfigError
from zoo.decoding import PrefixBeam, Reader, Reading, ReadingConfig
from zoo.decoding import tta as tta_lib
from zoo.decoding.config import Accidentals
from zoo.layers import BidirectionalSRU, ColumnSequence, MultiscaleFusion, ResidualBlock
from zoo.models import sign_head
from zoo.models.inputs import read_bytes
from zoo.notation import printed
from zoo.notation.decoder import tokens_to_stream
from zoo.notation.vocabulary import load_vocabulary
from zoo.preprocessing import image as staff_image
from zoo.preprocessing.errors import ImageInputError, plain_message
from zoo.pretrained import Manifest, WeightsError
from zoo.registry import ZooModel, register_model

TIME_REDUCTION = 4  # image columns per output frame
POOLS = ((2, 2), (2, 2), (2, 1), (2, 1))  # height /16, width /4
INPUT_SPEC = {
    "image": "PNG, JPEG or BMP bytes of one staff (colour is converted), any width up to "
             f"{staff_image.MAX_WIDTH} px after height normalization, at most {staff_image.MAX_INPUT_PIXELS:,} "
             "pixels; the library also splits pages of single-staff systems",
    "served": "PNG, JPEG or BMP bytes of one staff per image",
    "tensor": [staff_image.HEIGHT, None, 1],
    "height": staff_image.HEIGHT,
}
# Residual blocks hold two convolutions each, so the seed model halves the early widths: both models then
# take ~1.05 s per training step (batch 16, 1280 px) on this CPU and are compared at equal wall time.
FILTERS = {"resnet": [16, 32, 64, 128], "plain": [32, 64, 128, 128]}
COMMON = {"rnn_units": 128, "rnn_layers": 2, "dropout": 0.2,
          "height": staff_image.HEIGHT, "leaky_alpha": 0.1}


def output_lengths(widths: tf.Tensor) -> tf.Tensor:
    return tf.maximum(1, widths // TIME_REDUCTION)


def build_network(vocab_size: int, backbone: str, fusion: bool, rnn: str, filters: Sequence[int], rnn_units: int,
                  rnn_layers: int, dropout: float, height: int, leaky_alpha: float) -> tf.keras.Model:
    image = tf.keras.Input((height, None, 1), name="image")
    width = tf.keras.Input((), dtype=tf.int32, name="width")
    x, shallow = image, None
    for i, (f, pool) in enumerate(zip(filters, POOLS)):
        if backbone == "resnet":
            x = ResidualBlock(f, leaky_alpha=leaky_alpha, name=f"res{i}")(x)
        else:
            x = tf.keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
            x = tf.keras.layers.BatchNormalization(name=f"bn{i}")(x)
            x = tf.keras.layers.LeakyReLU(leaky_alpha)(x)
        x = tf.keras.layers.MaxPool2D(pool, name=f"pool{i}")(x)
        if i == 0:
            shallow = x
    seq = (MultiscaleFusion(2 * rnn_units, name="fusion")([shallow, x]) if fusion
           else ColumnSequence(2 * rnn_units, name="columns")(x))
    mask = tf.keras.layers.Lambda(
        lambda args: tf.sequence_mask(output_lengths(args[1]), tf.shape(args[0])[1]), name="time_mask")([seq, width])
    for i in range(rnn_layers):
        seq = tf.keras.layers.Dropout(dropout)(seq)
        if rnn == "sru":
            seq = BidirectionalSRU(rnn_units, name=f"bisru{i}")(seq, mask=mask)
        else:
            seq = tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(rnn_units, return_sequences=True),
                                                name=f"bilstm{i}")(seq, mask=mask)
    seq = tf.keras.layers.Dropout(dropout)(seq)
    logits = tf.keras.layers.Dense(vocab_size + 1, name="logits")(seq)  # last class = CTC blank
    return tf.keras.Model({"image": image, "width": width}, logits, name=f"omr_{backbone}_{rnn}")


class ScoreRecognizer(ZooModel):
    """Recognizes staves (and pages of single-staff systems) as PrIMuS semantic tokens.

    Decoding and the reading rules are :class:`zoo.decoding.Reader`'s, with the model's :class:`ReadingConfig`
    (its manifest's ``reading`` entry); the library runs the same function the serving signature exports.
    """

    def __init__(self, name: str, keras_model: tf.keras.Model, config: dict[str, Any], vocabulary: list[str]):
        super().__init__(name, keras_model, config, labels=None)
        self.vocabulary = list(vocabulary)
        self.signs: tf.keras.Model | None = None  # features → sign head logits (zoo.models.sign_head), if loaded
        self._reading = ReadingConfig.none()
        self._read_fn: Any = None  # the traced reading of a batch, made on first use

    @property
    def reading(self) -> ReadingConfig:
        """Which reading rules run, with their thresholds."""
        return self._reading

    @reading.setter
    def reading(self, config: ReadingConfig) -> None:
        self._reading = config
        self._read_fn = None

    @property
    def reader(self) -> Reader:
        return Reader(self.vocabulary, self._reading)

    def features(self) -> tf.Tensor:
        """The recurrent layers' output, which the token output (and a sign head) reads."""
        return self.keras_model.get_layer("logits").input

    def add_sign_head(self, weights: str | Path | None = None) -> None:
        """Give the recognizer a sign head (untrained, or with ``weights``), which the reading rules that read
        what the staff prints need (:data:`zoo.decoding.config.HEAD_RULES`)."""
        features = tf.keras.Input((None, self.features().shape[-1]), name="features")
        self.signs = tf.keras.Model(features, sign_head.build_layer()(features), name="sign_head")
        net = self.keras_model
        self._reader_net = tf.keras.Model(net.inputs, [net.output, self.signs(self.features())])
        self._read_fn = None
        if weights is not None:
            try:
                self.signs.load_weights(str(weights))
            except Exception as exc:  # h5py/keras raise many types for a bad file
                raise WeightsError(f"Cannot load sign head weights {weights} into {self.name!r}: {exc}") from exc

    def drop_sign_head(self) -> None:
        """Read with the token output alone (the rules that need the head no longer run)."""
        self.signs = None
        self._read_fn = None

    def preprocess(self, raw: bytes | str | Path) -> np.ndarray:
        """Image bytes/path → normalized ink-white staff [64, W, 1]."""
        data = read_bytes(raw, ImageInputError)
        try:
            return staff_image.staff_reader(self.config["height"])(tf.constant(data)).numpy()
        except tf.errors.InvalidArgumentError as exc:
            raise ImageInputError(plain_message(exc)) from None

    def load_manifest_extras(self, manifest: Manifest) -> None:
        """A manifest's ``sign_head`` entry ({file, sha256, alphabet}) and ``reading`` entry (a ReadingConfig).
        A manifest without ``reading`` reads with every rule if it ships a sign head, else with none: as such
        weights were evaluated."""
        entry = manifest.extra.get("sign_head")
        if entry is not None:
            if entry.get("alphabet") != list(printed.ALPHABET):
                raise WeightsError(f"{self.name!r}: the sign head was trained to read {entry.get('alphabet')}, this "
                                   f"version reads {list(printed.ALPHABET)}; train it again (scorezoo train-signs)")
            path = manifest.verified_file(entry["file"], entry["sha256"], "sign head weights")
            self.add_sign_head(path)
        if "reading" in manifest.extra:
            try:
                self.reading = ReadingConfig.from_dict(manifest.extra["reading"])
            except ConfigError as exc:
                raise WeightsError(f"{manifest.directory / 'manifest.json'}: {exc}") from None
        elif entry is not None:
            self.reading = config_lib.replace(ReadingConfig(), "accidentals.threshold",
                                              float(entry.get("threshold", Accidentals.threshold)))

    def network(self) -> tf.keras.Model:
        """inputs → token logits, or [token logits, sign head logits] with a sign head."""
        return self.keras_model if self.signs is None else self._reader_net

    def trackable(self) -> tf.keras.Model:
        return self.network()

    def probabilities(self, images: tf.Tensor, widths: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor | None]:
        """Softmax over tokens + blank for a batch of normalized staves [B, 64, W, 1] of ``widths``, each one's
        frame count, and (with a sign head) the head's softmax over :data:`zoo.notation.printed.ALPHABET` + blank."""
        outputs = self.network()({"image": images, "width": widths}, training=False)
        logits, signs = outputs if self.signs is not None else (outputs, None)
        return (tf.nn.softmax(logits), output_lengths(widths), None if signs is None else tf.nn.softmax(signs))

    def read(self, images: tf.Tensor, widths: tf.Tensor) -> dict[str, tf.Tensor]:
        """A batch of normalized staves → the reading's tensors (greedy decoding, then the rules): ``ids``,
        ``confidences``, ``counts``, ``confidence``. The serving signature runs this very function."""
        reading = self.reader(*self.probabilities(images, widths))
        return {"ids": reading.ids, "confidences": reading.confidences, "counts": reading.counts,
                "confidence": reading.confidence}

    def recognize_staves(self, staves: Sequence[np.ndarray], beam: int = 0, tta: bool = False) -> list[dict[str, Any]]:
        """One ``{tokens, confidence, token_confidences}`` per normalized staff: greedy decoding (``beam`` > 1:
        prefix beam search), then the reading rules. With ``tta``, each staff is read at the spacings of
        :data:`zoo.decoding.tta.WIDTH_SCALES` and the readings vote (five network passes; results gain
        ``agreement``)."""
        if tta:
            readings = [self.recognize_staves(staves if scale == 1.0 else
                                              [staff_image.rescale_width(s, scale).numpy() for s in staves], beam)
                        for scale in tta_lib.WIDTH_SCALES]
            return [tta_lib.vote(per_staff) for per_staff in zip(*readings)]
        widths = np.array([s.shape[1] for s in staves], np.int32)
        batch = np.zeros((len(staves), staves[0].shape[0], widths.max(), 1), np.float32)
        for i, s in enumerate(staves):
            batch[i, :, : s.shape[1]] = s
        if beam and beam > 1:
            probs, lengths, head = self.probabilities(tf.constant(batch), tf.constant(widths))
            reading = self.reader(probs, lengths, head, PrefixBeam(beam)(probs, lengths))
        else:
            if self._read_fn is None:
                self._read_fn = tf.function(self.read, input_signature=[
                    tf.TensorSpec([None, self.config["height"], None, 1], tf.float32),
                    tf.TensorSpec([None], tf.int32)])
            reading = Reading(**self._read_fn(tf.constant(batch), tf.constant(widths)))
        return reading.results(self.vocabulary)

    def predict(self, inputs: Any, beam: int = 0, tta: bool = False) -> dict[str, Any] | list[dict[str, Any]]:
        """``{"tokens": [...], "confidence": c, "token_confidences": [...]}`` per staff image."""
        if isinstance(inputs, (list, tuple)):
            return [self.predict(x, beam, tta) for x in inputs]
        return self.recognize_staves([self.preprocess(inputs)], beam, tta)[0]

    def recognize_page(self, raw: bytes | str | Path, beam: int = 0, tta: bool = False) -> list[dict[str, Any]]:
        """A page of single-staff systems → one result per staff, top to bottom, read as one batch (an image of
        one staff → one result; :func:`zoo.preprocessing.pages.staff_images`). PNG, JPEG, BMP, WEBP, TIFF or PDF;
        the results of a file of several pages say their ``page``. A band that reads as no staff is left out, and
        a file with no staff at all is an :class:`ImageInputError` (:func:`zoo.preprocessing.pages.page_results`)."""
        from zoo.preprocessing import pages

        staves = pages.input_staves(read_bytes(raw, ImageInputError))
        return pages.page_results(self.recognize_staves([self.preprocess(s) for _, s in staves], beam, tta), staves)

    @staticmethod
    def to_stream(tokens: Sequence[str]):
        """Recognized tokens → music21 Part (write it as MusicXML or MIDI)."""
        return tokens_to_stream(list(tokens))

    def serving_outputs(self, images: tf.Tensor, to_staff: Any = None) -> dict[str, tf.Tensor]:
        """A batch of image bytes [B] → the served reading: ``tokens`` [B, L] (padded with ""), ``lengths``,
        ``confidence``, ``token_confidences``. ``to_staff`` turns one image's bytes into a normalized staff
        (default :func:`zoo.preprocessing.image.png_to_staff`; the TFX pipeline's model passes the decoding of its
        Transform output instead). Runs :meth:`read`, as the library does."""
        height = self.config["height"]
        to_staff = to_staff or (lambda data: staff_image.png_to_staff(data, height))

        def one(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            staff = to_staff(data)
            width = tf.shape(staff)[1]
            return tf.pad(staff, [[0, 0], [0, staff_image.MAX_WIDTH - width], [0, 0]]), width

        padded, widths = tf.map_fn(one, images, fn_output_signature=(
            tf.TensorSpec([height, staff_image.MAX_WIDTH, 1], tf.float32), tf.TensorSpec([], tf.int32)))
        reading = self.read(padded[:, :, : tf.reduce_max(widths)], widths)
        vocab = tf.constant(self.vocabulary + [""])  # the blank pads every reading
        return {"tokens": tf.gather(vocab, reading["ids"]), "lengths": reading["counts"],
                "confidence": reading["confidence"], "token_confidences": reading["confidences"]}

    def serving_signatures(self) -> dict[str, Any]:
        """``serving_default(image: string[batch]) → {tokens, lengths, confidence, token_confidences}``: the
        library's :meth:`read` (greedy decoding and the model's reading rules) inside the graph."""

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image")])
        def serving_default(images: tf.Tensor) -> dict[str, tf.Tensor]:
            return self.serving_outputs(images)

        return {"serving_default": serving_default.get_concrete_function()}


def _builder(name: str, backbone: str, rnn: str, fusion: bool):
    def build(vocabulary: Sequence[str] | None = None, **config: Any) -> ScoreRecognizer:
        cfg = {**COMMON, "filters": FILTERS[backbone], "backbone": backbone, "rnn": rnn, "fusion": fusion, **config}
        vocab = list(vocabulary) if vocabulary is not None else load_vocabulary()
        net = build_network(len(vocab), cfg["backbone"], cfg["fusion"], cfg["rnn"], cfg["filters"], cfg["rnn_units"],
                            cfg["rnn_layers"], cfg["dropout"], cfg["height"], cfg["leaky_alpha"])
        return ScoreRecognizer(name, net, cfg, vocab)

    return build


register_model("omr-resnet-bisru", task="score-recognition", input_spec=INPUT_SPEC,
               description="Residual CNN + multiscale fusion + BiSRU + CTC → PrIMuS semantic tokens")(
    _builder("omr-resnet-bisru", "resnet", "sru", True))
register_model("omr-crnn-bilstm", task="score-recognition", input_spec=INPUT_SPEC,
               description="CRNN baseline (Calvo-Zaragoza & Rizo 2018): conv blocks + BiLSTM + CTC")(
    _builder("omr-crnn-bilstm", "plain", "lstm", False))
