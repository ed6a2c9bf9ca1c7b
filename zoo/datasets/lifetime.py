"""Build processes that end with the process that started them.

A data build's pool workers, and the FluidSynth processes they start, otherwise go on writing for seconds after
their parent was killed, into a folder the next build resumes from. Linux delivers a signal to a process whose
parent dies if it asks for one (``prctl(PR_SET_PDEATHSIG)``); elsewhere this does nothing.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def end_with_parent() -> None:
    """Ask the kernel to kill this process when its parent dies (a pool initializer or a ``preexec_fn``)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
