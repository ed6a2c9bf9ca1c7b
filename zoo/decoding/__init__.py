"""Decoding: a recognizer's softmax outputs → tokens with confidences, written once in TensorFlow for the library
and the serving graph (samplers in :mod:`~zoo.decoding.ctc`, reading rules in :mod:`~zoo.decoding.rules`, their
switches and thresholds in :class:`~zoo.decoding.config.ReadingConfig`)."""
from zoo.decoding.config import ReadingConfig
from zoo.decoding.ctc import Greedy, Path, PrefixBeam
from zoo.decoding.reader import Reader, Reading

__all__ = ["Greedy", "Path", "PrefixBeam", "ReadingConfig", "Reader", "Reading"]
