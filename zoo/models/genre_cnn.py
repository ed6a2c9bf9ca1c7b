"""``genre-cnn``: a small CNN over log-mel spectrograms that names a clip's genre.

The front end (decode → mono → 22,050 Hz → log-mel, ``zoo.preprocessing.audio``) runs
inside the TensorFlow graph, so the same function serves training, TFX Transform
and the serving signature. The network sees [frames, 128] log-mel and ends in
global pooling, so it takes any clip length; clips are 10 s (431 frames).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from zoo.models.inputs import read_bytes
from zoo.preprocessing import audio, headers
from zoo.preprocessing.errors import AudioInputError, plain_message
from zoo.registry import ZooModel, register_model

GENRES: tuple[str, ...] = ("chorale", "renaissance", "classical", "folk", "fiddle")
DEFAULT_CONFIG: dict[str, Any] = {"filters": [16, 32, 64, 128], "dropout": 0.3, "n_mels": audio.N_MELS,
                                  "labels": list(GENRES), "temporal_units": 0}
INPUT_SPEC = {
    "audio": f"WAV (16-bit PCM), FLAC, Ogg Vorbis or MP3 bytes; {audio.MIN_RATE}-{audio.MAX_RATE} Hz; up to "
             f"{audio.MAX_CHANNELS} channels; {audio.MIN_SECONDS:g}-{audio.MAX_SECONDS:g} s",
    "served": "WAV (16-bit PCM) only: the exported signature leaves out tensorflow-io's FLAC/OGG/MP3 decoders, "
              "which stock TF Serving cannot load",
    "log_mel": [None, audio.N_MELS],
    "clip_seconds": audio.CLIP_SECONDS,
    "sample_rate": audio.SAMPLE_RATE,
}


def build_network(filters: Sequence[int], dropout: float, n_mels: int, n_classes: int,
                  temporal_units: int = 0) -> tf.keras.Model:
    """Conv blocks (conv → BN → ReLU → max-pool) over (time, mel), mean+max pooling, dropout, softmax.

    With ``temporal_units`` > 0 a bidirectional GRU reads the conv features as a sequence (one step per 16
    frames, 0.37 s) before the pooling: the conv blocks alone see about one second, too short for the rhythm
    and phrase patterns that tell a fiddle reel from a folk song when both are a melody on one instrument.
    It did not beat the plain network on genre-large (docs/decisions/0014-genre-cnn.md), so the shipped model has none.
    """
    inputs = tf.keras.Input((None, n_mels), name="log_mel")
    x = tf.keras.layers.BatchNormalization(name="input_norm")(inputs)  # learned per-band standardization
    x = tf.keras.layers.Reshape((-1, n_mels, 1))(x)
    for i, f in enumerate(filters):
        x = tf.keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = tf.keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = tf.keras.layers.ReLU()(x)
        x = tf.keras.layers.MaxPool2D(2, name=f"pool{i}")(x)
    if temporal_units:
        bands = n_mels // 2 ** len(filters)
        x = tf.keras.layers.Reshape((-1, bands * filters[-1]), name="to_sequence")(x)
        x = tf.keras.layers.Dense(2 * temporal_units, activation="relu", name="step_proj")(x)
        x = tf.keras.layers.Bidirectional(tf.keras.layers.GRU(temporal_units, return_sequences=True),
                                          name="temporal")(x)
        pooled = tf.keras.layers.Concatenate()([tf.keras.layers.GlobalAveragePooling1D()(x),
                                                tf.keras.layers.GlobalMaxPooling1D()(x)])
    else:
        pooled = tf.keras.layers.Concatenate()([tf.keras.layers.GlobalAveragePooling2D()(x),
                                                tf.keras.layers.GlobalMaxPooling2D()(x)])
    x = tf.keras.layers.Dropout(dropout)(pooled)
    outputs = tf.keras.layers.Dense(n_classes, activation="softmax", name="scores")(x)
    return tf.keras.Model(inputs, outputs, name="genre_cnn")


class GenreClassifier(ZooModel):
    """Names the genre of audio files or bytes. A recording is scored as the mean over its 10-second windows, by
    the library and the serving signature with one function (:meth:`scores_of`)."""

    def _read(self, raw: bytes | str | Path) -> bytes:
        data = read_bytes(raw, AudioInputError)
        headers.audio_header(data)  # rate, channels and length are checked before anything is decoded
        return data

    def preprocess(self, raw: bytes | str | Path) -> np.ndarray:
        """Audio → log-mel windows [W, 427, 128] (every 10 s of the recording; :func:`audio.recording_log_mels`)."""
        try:
            return audio.recording_log_mels(*audio.decode_audio(self._read(raw))).numpy()
        except tf.errors.InvalidArgumentError as exc:
            raise AudioInputError(plain_message(exc)) from None

    def window_scores(self, windows: tf.Tensor) -> tf.Tensor:
        """Class probabilities [W, classes] of log-mel windows [W, frames, mels], audio.WINDOW_BATCH at a time (a long
        recording's memory stays bounded, and short clips of a batch still run together)."""
        count = tf.shape(windows)[0]
        chunks = (count + audio.WINDOW_BATCH - 1) // audio.WINDOW_BATCH
        out = tf.TensorArray(tf.float32, size=chunks, infer_shape=False,
                             element_shape=tf.TensorShape([None, len(self.labels)]))

        def step(i: tf.Tensor, out: tf.TensorArray) -> tuple[tf.Tensor, tf.TensorArray]:
            chunk = windows[i * audio.WINDOW_BATCH:(i + 1) * audio.WINDOW_BATCH]
            return i + 1, out.write(i, self.keras_model(chunk, training=False))

        _, out = tf.while_loop(lambda i, _: i < chunks, step, (tf.constant(0), out))
        return out.concat()

    def scores_of(self, audio_bytes: tf.Tensor, formats: Sequence[str] = audio.FORMATS) -> tf.Tensor:
        """Encoded recordings string[B] → mean class probabilities [B, classes] over each one's 10-second windows:
        graph code that the serving signature runs in-graph and :meth:`predict_scores` eagerly."""
        spec = tf.RaggedTensorSpec([None, audio.num_frames(audio.CLIP_SECONDS), audio.N_MELS], tf.float32, 0)
        windows = tf.map_fn(lambda data: audio.recording_log_mels(*audio.decode_audio(data, formats)), audio_bytes,
                            fn_output_signature=spec)
        scores = self.window_scores(windows.flat_values)
        return tf.math.unsorted_segment_mean(scores, windows.value_rowids(), tf.shape(audio_bytes)[0])

    def predict_scores(self, raw: bytes | str | Path) -> np.ndarray:
        """Mean class probabilities over the recording's windows."""
        try:
            return self.scores_of(tf.constant([self._read(raw)]))[0].numpy()
        except tf.errors.InvalidArgumentError as exc:
            raise AudioInputError(plain_message(exc)) from None

    def predict(self, inputs: Any) -> dict[str, Any] | list[dict[str, Any]]:
        """``{"genre": ..., "scores": {genre: p}}`` for one input, a list of those for a list."""
        if isinstance(inputs, (list, tuple)):
            return [self.predict(x) for x in inputs]
        scores = self.predict_scores(inputs)
        return {"genre": self.labels[int(scores.argmax())],
                "scores": {g: round(float(p), 6) for g, p in zip(self.labels, scores)}}

    def serving_outputs(self, scores: tf.Tensor) -> dict[str, tf.Tensor]:
        """The served outputs for class probabilities: ``{genre: string[B], scores: float[B, 5]}``."""
        return {"genre": tf.gather(tf.constant(self.labels), tf.argmax(scores, axis=-1)), "scores": scores}

    def serving_signatures(self, formats: Sequence[str] = ("wav",)) -> dict[str, Any]:
        """``serving_default(audio: string[batch]) → {genre, scores}``: :meth:`scores_of` in the graph, so a
        recording is served the answer :meth:`predict` gives it.

        WAV only by default, so that the SavedModel loads in stock TF Serving (tensorflow-io ops are not in it).
        """

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="audio")])
        def serving_default(audio_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
            return self.serving_outputs(self.scores_of(audio_bytes, formats))

        return {"serving_default": serving_default.get_concrete_function()}


@register_model(task="genre-classification", input_spec=INPUT_SPEC, default_config=DEFAULT_CONFIG)
def genre_cnn(filters: Sequence[int] = (16, 32, 64, 128), dropout: float = 0.3, n_mels: int = audio.N_MELS,
              labels: Sequence[str] = GENRES, temporal_units: int = 0) -> GenreClassifier:
    """Log-mel CNN genre classifier (chorale, renaissance, classical, folk, fiddle)."""
    network = build_network(filters, dropout, n_mels, len(labels), temporal_units)
    config = {"filters": list(filters), "dropout": dropout, "n_mels": n_mels, "labels": list(labels),
              "temporal_units": temporal_units}
    return GenreClassifier("genre-cnn", network, config, labels=list(labels))
