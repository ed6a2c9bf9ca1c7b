"""Build processes that end with the process that started them.

A data build's pool workers, and the FluidSynth processes they start, otherwise go on writing for seconds after
their parent was killed, into a folder the next build resumes from.

Two ways, for two kinds of child. A program started with ``subprocess`` (FluidSynth) asks Linux for a signal when
its parent dies (``prctl(PR_SET_PDEATHSIG)``, :func:`end_with_parent`). Pool workers must not: the kernel sends
that signal when the parent *thread* that forked the worker ends, and ``multiprocessing.Pool`` starts the workers
that replace retired ones (``maxtasksperchild``) from a helper thread, which ends when the pool closes. A worker
killed then may hold the pool's task-queue lock, and ``Pool.terminate`` waits for that lock for ever: a full
staff build (2,912 items, workers replaced every 50) hung that way after its last item. Workers instead watch
their parent process from a thread (:func:`watch_parent`).
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

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


def watch_parent(interval: float = 1.0) -> None:
    """End this process within ``interval`` seconds of its parent process ending (a pool initializer): a daemon
    thread checks whether it has been handed to another parent."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
