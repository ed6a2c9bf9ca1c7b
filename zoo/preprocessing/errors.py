"""Input errors with a plain sentence, and TensorFlow's assertion errors turned into the sentence they carry."""
from __future__ import annotations

import re

import tensorflow as tf

_SUMMARIZED = re.compile(r"Summarized data: b['\"](.*?)['\"]\s*$", re.M)  # an eager assertion
_ASSERTED = re.compile(r"assertion failed: \[(.*)\]")  # the same assertion in a compiled function


class InputError(ValueError):
    """An input that cannot be used (unreadable, wrong kind, out of the accepted ranges); the message says which."""


class ImageInputError(InputError):
    """An image that cannot be recognized (not an image, blank, too small or too large)."""


class AudioInputError(InputError):
    """Audio that cannot be classified (empty, not audio, too short or long, an implausible header)."""


def plain_message(exc: tf.errors.OpError) -> str:
    """``"image is blank (no ink found)"`` rather than the op trace around it."""
    text = exc.message or str(exc)
    match = _SUMMARIZED.search(text)
    if match:
        return match.group(1)
    first = text.strip().split("\n")[0]
    match = _ASSERTED.search(first)
    if match:
        return match.group(1)
    return re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", first).strip()
