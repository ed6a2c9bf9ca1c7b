"""Classical genre baselines (the seed paper's Figure 7): decision tree, kNN, softmax, SVM.

They see summary features of the same clips, computed from the same decoded and
resampled audio as ``genre-cnn``: MFCC means and variances (from the shared
log-mel), spectral centroid, bandwidth, roll-off and flatness, zero-crossing rate
and RMS energy (means and variances), with scikit-learn doing the classifying.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from zoo.preprocessing import audio

N_MFCC = 20
ROLLOFF = 0.85

FEATURE_NAMES = (
    [f"mfcc{i}_mean" for i in range(N_MFCC)] + [f"mfcc{i}_var" for i in range(N_MFCC)]
    + [f"{n}_{s}" for n in ("centroid", "bandwidth", "rolloff", "flatness", "zcr", "rms") for s in ("mean", "var")]
)


def summary_features(audio_bytes: tf.Tensor) -> tf.Tensor:
    """[len(FEATURE_NAMES)] summary features of one encoded clip (graph-compatible)."""
    samples, rate = audio.decode_audio(audio_bytes, ("wav",))
    samples = audio.fix_length(audio.resample(samples, rate), audio.num_samples(audio.CLIP_SECONDS))
    log_mel = audio.log_mel(samples)
    mfcc = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[:, :N_MFCC]
    power = tf.square(tf.abs(tf.signal.stft(samples, audio.N_FFT, audio.HOP, audio.N_FFT)))
    freqs = tf.linspace(0.0, audio.SAMPLE_RATE / 2, audio.N_FFT // 2 + 1)
    total = tf.reduce_sum(power, -1) + 1e-10
    centroid = tf.reduce_sum(power * freqs, -1) / total
    bandwidth = tf.sqrt(tf.reduce_sum(power * tf.square(freqs[None, :] - centroid[:, None]), -1) / total)
    cumulative = tf.cumsum(power, -1) / total[:, None]
    rolloff = tf.gather(freqs, tf.argmax(tf.cast(cumulative >= ROLLOFF, tf.int32), -1))
    flatness = tf.exp(tf.reduce_mean(tf.math.log(power + 1e-10), -1)) / (tf.reduce_mean(power, -1) + 1e-10)
    frames = tf.signal.frame(samples, audio.N_FFT, audio.HOP)
    zcr = tf.reduce_mean(tf.cast(tf.not_equal(tf.sign(frames[:, 1:]), tf.sign(frames[:, :-1])), tf.float32), -1)
    rms = tf.sqrt(tf.reduce_mean(tf.square(frames), -1))
    stats = [tf.reduce_mean(mfcc, 0), tf.math.reduce_variance(mfcc, 0)]
    for series in (centroid, bandwidth, rolloff, flatness, zcr, rms):
        stats += [tf.reduce_mean(series)[None], tf.math.reduce_variance(series)[None]]
    return tf.concat(stats, 0)


def baselines() -> dict[str, tuple[Any, dict[str, list[Any]]]]:
    """Each baseline with the grid it is tuned over on the validation split."""
    return {
        "decision_tree": (DecisionTreeClassifier(random_state=0), {"max_depth": [5, 10, 20, None]}),
        "knn": (KNeighborsClassifier(), {"n_neighbors": [1, 5, 15, 31]}),
        "softmax": (LogisticRegression(max_iter=3000), {"C": [0.1, 1.0, 10.0]}),
        "svm": (SVC(probability=True, random_state=0), {"C": [1.0, 10.0, 100.0], "gamma": ["scale"]}),
    }


def fit(name: str, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray):
    """Standardize + classifier; hyper-parameters picked on the validation split, then fit on train."""
    estimator, grid = baselines()[name]
    pipeline = make_pipeline(StandardScaler(), estimator)
    step = pipeline.steps[-1][0]
    search = GridSearchCV(pipeline, {f"{step}__{k}": v for k, v in grid.items()},
                          cv=PredefinedSplit(np.r_[np.full(len(y_train), -1), np.zeros(len(y_val))]), refit=False)
    search.fit(np.r_[x_train, x_val], np.r_[y_train, y_val])
    pipeline.set_params(**search.best_params_)
    pipeline.fit(x_train, y_train)
    return pipeline, search.best_params_
