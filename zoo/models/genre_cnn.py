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
WINDOW_BATCH = 32  # 10-s windows of one recording run through the network at once
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
    """Names the genre of audio files or bytes; long recordings are scored in 10-second windows."""

    def preprocess(self, raw: bytes | str | Path) -> np.ndarray:
        """Audio → log-mel windows [W, 431, 128] (every 10 s of the recording, the last padded)."""
        data = read_bytes(raw, AudioInputError)
        headers.audio_header(data)  # rate, channels and length are checked before anything is decoded
        try:
            samples, rate = audio.decode_audio(data)
        except tf.errors.InvalidArgumentError as exc:
            raise AudioInputError(plain_message(exc)) from None
        samples, rate = samples.numpy(), int(rate)
        seconds = len(samples) / rate
        if seconds < audio.MIN_SECONDS:
            raise AudioInputError(f"audio is {seconds:.2f} s long, at least {audio.MIN_SECONDS:g} s is needed")
        windows = [audio.waveform_to_log_mel(w, rate).numpy() for _, w in audio.iter_windows(samples, rate)]
        return np.stack(windows)

    def predict_scores(self, raw: bytes | str | Path) -> np.ndarray:
        """Mean class probabilities over the recording's windows."""
        windows = self.preprocess(raw)
        scores = [self.keras_model.predict_on_batch(windows[i:i + WINDOW_BATCH]) for i in
                  range(0, len(windows), WINDOW_BATCH)]  # a long recording's windows in bounded batches
        return np.concatenate(scores).mean(axis=0)

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
        """``serving_default(audio: string[batch]) → {genre, scores}``: all preprocessing in the graph.

        WAV only by default, so that the SavedModel loads in stock TF Serving (tensorflow-io ops are not in it).
        """
        model = self.keras_model

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="audio")])
        def serving_default(audio_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
            mels = audio.audio_bytes_to_log_mel(audio_bytes, audio.CLIP_SECONDS, formats)
            return self.serving_outputs(model(mels, training=False))

        return {"serving_default": serving_default.get_concrete_function()}


@register_model(task="genre-classification", input_spec=INPUT_SPEC, default_config=DEFAULT_CONFIG)
def genre_cnn(filters: Sequence[int] = (16, 32, 64, 128), dropout: float = 0.3, n_mels: int = audio.N_MELS,
              labels: Sequence[str] = GENRES, temporal_units: int = 0) -> GenreClassifier:
    """Log-mel CNN genre classifier (chorale, renaissance, classical, folk, fiddle)."""
    network = build_network(filters, dropout, n_mels, len(labels), temporal_units)
    config = {"filters": list(filters), "dropout": dropout, "n_mels": n_mels, "labels": list(labels),
              "temporal_units": temporal_units}
    return GenreClassifier("genre-cnn", network, config, labels=list(labels))
