"""scorezoo: a Keras model zoo for cross-media music score recognition.

TensorFlow must see ``TF_USE_LEGACY_KERAS=1`` before it is first imported, because
spektral and TFX 1.16 are built on Keras 2 (``tf_keras``); importing ``zoo`` first
makes ``tf.keras`` resolve to ``tf_keras`` for the whole process.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo._version import __version__  # noqa: E402
from zoo.registry import (  # noqa: E402
    UnknownModelError,
    ZooModel,
    create_model,
    get_spec,
    list_models,
    load,
    register_model,
)

__all__ = [
    "__version__",
    "UnknownModelError",
    "ZooModel",
    "create_model",
    "get_spec",
    "list_models",
    "load",
    "register_model",
]
