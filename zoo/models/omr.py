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

from zoo.layers import BidirectionalSRU, ColumnSequence, MultiscaleFusion, ResidualBlock
from zoo.models import ctc, sign_head, test_time
from zoo.models.inputs import read_bytes
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
    """Recognizes staves (and pages of single-staff systems) as PrIMuS semantic tokens."""

    def __init__(self, name: str, keras_model: tf.keras.Model, config: dict[str, Any], vocabulary: list[str]):
        super().__init__(name, keras_model, config, labels=None)
        self.vocabulary = list(vocabulary)
        self.signs: tf.keras.Model | None = None  # features → sign head logits (zoo.models.sign_head), if loaded
        self.sign_threshold = sign_head.THRESHOLD

    def features(self) -> tf.Tensor:
        """The recurrent layers' output, which the token output (and a sign head) reads."""
        return self.keras_model.get_layer("logits").input

    def add_sign_head(self, weights: str | Path | None = None, threshold: float = sign_head.THRESHOLD) -> None:
        """Give the recognizer a sign head (untrained, or with ``weights``): notes then take accidentals the
        head sees no sign for from their key signature and bar."""
        features = tf.keras.Input((None, self.features().shape[-1]), name="features")
        self.signs = tf.keras.Model(features, sign_head.build_layer()(features), name="sign_head")
        self.sign_threshold = threshold
        self._writable = frozenset(self.vocabulary)  # respellings the rule may give a note
        self._key_classes = sign_head.key_classes(self.vocabulary)
        net = self.keras_model
        self._reader = tf.keras.Model(net.inputs, [net.output, self.signs(self.features())])
        if weights is not None:
            try:
                self.signs.load_weights(str(weights))
            except Exception as exc:  # h5py/keras raise many types for a bad file
                raise WeightsError(f"Cannot load sign head weights {weights} into {self.name!r}: {exc}") from exc

    def preprocess(self, raw: bytes | str | Path) -> np.ndarray:
        """Image bytes/path → normalized ink-white staff [64, W, 1]."""
        data = read_bytes(raw, ImageInputError)
        try:
            return staff_image.png_to_staff(data, self.config["height"]).numpy()
        except tf.errors.InvalidArgumentError as exc:
            raise ImageInputError(plain_message(exc)) from None

    def load_manifest_extras(self, manifest: Manifest) -> None:
        """A manifest's ``sign_head`` entry: {file, sha256, threshold, alphabet}."""
        entry = manifest.extra.get("sign_head")
        if entry is not None:
            if entry.get("alphabet") != list(sign_head.ALPHABET):
                raise WeightsError(f"{self.name!r}: the sign head was trained to read {entry.get('alphabet')}, this "
                                   f"version reads {list(sign_head.ALPHABET)}; train it again (scorezoo train-signs)")
            path = manifest.verified_file(entry["file"], entry["sha256"], "sign head weights")
            self.add_sign_head(path, float(entry.get("threshold", sign_head.THRESHOLD)))

    def reader(self) -> tf.keras.Model:
        """inputs → [token logits, sign head logits] (the token logits alone without a sign head)."""
        return self.keras_model if self.signs is None else self._reader

    def trackable(self) -> tf.keras.Model:
        return self.reader()

    def probabilities(self, staves: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Softmax over tokens+blank for a batch of normalized staves, each one's frame count, and (with a sign
        head) its softmax over :data:`sign_head.ALPHABET` + blank."""
        widths = np.array([s.shape[1] for s in staves], np.int32)
        batch = np.zeros((len(staves), staves[0].shape[0], widths.max(), 1), np.float32)
        for i, s in enumerate(staves):
            batch[i, :, : s.shape[1]] = s
        outputs = self.reader()({"image": batch, "width": widths}, training=False)
        logits, signs = outputs if self.signs is not None else (outputs, None)
        return (tf.nn.softmax(logits).numpy(), output_lengths(widths).numpy(),
                None if signs is None else tf.nn.softmax(signs).numpy())

    def decode(self, probs: np.ndarray, length: int, beam: int = 0, head_probs: np.ndarray | None = None
               ) -> dict[str, Any]:
        result = ctc.beam(probs, length, beam) if beam and beam > 1 else ctc.greedy(probs, length)
        tokens, confidences = [self.vocabulary[i] for i in result.ids], result.confidences
        if head_probs is not None:
            tokens, confidences = sign_head.read(result, self.vocabulary, probs, head_probs, length,
                                                 self._key_classes, self.sign_threshold, self._writable)
        return {"tokens": tokens, "confidence": round(ctc.sequence_confidence(confidences), 6),
                "token_confidences": [round(c, 4) for c in confidences]}

    def recognize_staves(self, staves: Sequence[np.ndarray], beam: int = 0, tta: bool = False) -> list[dict[str, Any]]:
        """One result per normalized staff. With ``tta``, each staff is read at the spacings of
        ``test_time.WIDTH_SCALES`` and the readings vote (five network passes; results gain ``agreement``)."""
        if tta:
            readings = [self.recognize_staves(staves if scale == 1.0 else
                                              [staff_image.rescale_width(s, scale).numpy() for s in staves], beam)
                        for scale in test_time.WIDTH_SCALES]
            return [test_time.vote(per_staff) for per_staff in zip(*readings)]
        probs, lengths, signs = self.probabilities(staves)
        return [self.decode(p, int(n), beam, None if signs is None else signs[i])
                for i, (p, n) in enumerate(zip(probs, lengths))]

    def predict(self, inputs: Any, beam: int = 0, tta: bool = False) -> dict[str, Any] | list[dict[str, Any]]:
        """``{"tokens": [...], "confidence": c, "token_confidences": [...]}`` per staff image."""
        if isinstance(inputs, (list, tuple)):
            return [self.predict(x, beam, tta) for x in inputs]
        return self.recognize_staves([self.preprocess(inputs)], beam, tta)[0]

    def recognize_page(self, raw: bytes | str | Path, beam: int = 0, tta: bool = False) -> list[dict[str, Any]]:
        """A page of single-staff systems → one result per staff, top to bottom."""
        from zoo.preprocessing import pages

        crops = pages.split_staves(read_bytes(raw, ImageInputError))
        staves = [self.preprocess(c) for c in crops]
        return self.recognize_staves(staves, beam, tta) if staves else []

    @staticmethod
    def to_stream(tokens: Sequence[str]):
        """Recognized tokens → music21 Part (write it as MusicXML or MIDI)."""
        return tokens_to_stream(list(tokens))

    def serving_signatures(self) -> dict[str, Any]:
        """``serving_default(image: string[batch]) → {tokens, lengths, confidence}``, greedy CTC in the graph (and
        a sign head's accidentals from context, as :meth:`decode` applies them)."""
        model, vocab = self.reader(), tf.constant(self.vocabulary + [""])
        height = self.config["height"]
        rule = None if self.signs is None else sign_head.GraphRule(self.vocabulary, self.sign_threshold)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image")])
        def serving_default(images: tf.Tensor) -> dict[str, tf.Tensor]:
            def one(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
                staff = staff_image.png_to_staff(data, height)
                width = tf.shape(staff)[1]
                return tf.pad(staff, [[0, 0], [0, staff_image.MAX_WIDTH - width], [0, 0]]), width

            padded, widths = tf.map_fn(one, images, fn_output_signature=(
                tf.TensorSpec([height, staff_image.MAX_WIDTH, 1], tf.float32), tf.TensorSpec([], tf.int32)))
            batch = padded[:, :, : tf.reduce_max(widths)]
            lengths = output_lengths(widths)
            blank = len(self.vocabulary)
            if rule is None:
                logits = model({"image": batch, "width": widths}, training=False)
                decoded, _ = tf.nn.ctc_greedy_decoder(tf.transpose(logits, [1, 0, 2]), lengths, blank_index=-1)
                ids = tf.sparse.to_dense(decoded[0], default_value=blank)
            else:
                logits, signs = model({"image": batch, "width": widths}, training=False)
                ids = rule.greedy(logits, signs, lengths)
            best = tf.reduce_max(tf.nn.softmax(logits), -1)
            mask = tf.sequence_mask(lengths, tf.shape(best)[1], tf.float32)
            confidence = tf.exp(tf.reduce_sum(tf.math.log(best + 1e-12) * mask, 1) / tf.cast(lengths, tf.float32))
            return {"tokens": tf.gather(vocab, ids), "confidence": confidence,
                    "lengths": tf.reduce_sum(tf.cast(ids < blank, tf.int32), axis=1)}

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
