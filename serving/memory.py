"""How the local server's process gets its memory back after a burst of large requests.

TensorFlow's oneDNN kernels keep large buffers in a pool that is never returned, so a server that once ran a big
request would stay at that size. ``TF_ONEDNN_USE_SYSTEM_ALLOCATOR`` (set in ``serving/__init__.py``) sends them to
``malloc`` instead. glibc's malloc then costs 10-20 % of throughput, jemalloc none at batch 1 (it is also what
TF Serving's own builds favour: a pooling allocator), and with a one-second decay it hands idle pages back by
itself. So ``scorezoo serve`` re-runs itself once with jemalloc preloaded when the system has it (Debian package
``libjemalloc2``, installed by ``make setup``); without it the server runs on glibc and the budget's idle
``malloc_trim`` returns the memory. Measurements: docs/decisions/0001-request-limits.md.
"""
from __future__ import annotations

import ctypes.util
import os
import sys

JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"
_OPT_OUT = "SCOREZOO_SYSTEM_MALLOC"  # set to 1 to keep the system's malloc


def jemalloc() -> str | None:
    """The jemalloc shared library's name, if the system has one."""
    return ctypes.util.find_library("jemalloc")


def using_jemalloc() -> bool:
    return "jemalloc" in os.environ.get("LD_PRELOAD", "")


def rerun_with_jemalloc() -> None:
    """Replace this process by the same command with jemalloc preloaded (returns only when that cannot be done:
    no jemalloc, already preloaded, or opted out). Call it before TensorFlow is imported."""
    library = jemalloc()
    if library is None or using_jemalloc() or os.environ.get(_OPT_OUT) == "1":
        return
    preload = " ".join(filter(None, [library, os.environ.get("LD_PRELOAD", "")]))
    env = {**os.environ, "LD_PRELOAD": preload, "MALLOC_CONF": os.environ.get("MALLOC_CONF", JEMALLOC_CONF)}
    argv = list(getattr(sys, "orig_argv", [])) or [sys.executable, *sys.argv]
    os.execve(sys.executable, argv, env)
