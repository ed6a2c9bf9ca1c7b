"""Turn TensorFlow's assertion errors into the plain sentence they carry."""
from __future__ import annotations

import re

import tensorflow as tf

_SUMMARIZED = re.compile(r"Summarized data: b['\"](.*?)['\"]\s*$", re.M)


def plain_message(exc: tf.errors.OpError) -> str:
    """``"image is blank (no ink found)"`` rather than the op trace around it."""
    text = exc.message or str(exc)
    match = _SUMMARIZED.search(text)
    if match:
        return match.group(1)
    first = text.strip().split("\n")[0]
    return re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", first).strip()
