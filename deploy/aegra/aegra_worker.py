"""The app each uvicorn worker of the deployment serves: Aegra's, in a process that dies with its supervisor.

uvicorn's supervisor starts its workers itself, so the entry point cannot give them
a parent-death signal the way it gives its own children one. Each worker imports
this module first (it is the app uvicorn is told to load) and asks the kernel to
SIGKILL it when its parent, the supervisor, dies; so a supervisor killed along with
the entry point takes its workers with it instead of leaving them serving the port.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal

PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal this process gets when its parent dies."""


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies; exit now if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)  # the supervisor died before the signal was set


die_with_parent()

from aegra_api.main import app  # noqa: E402 - only once this worker dies with its supervisor

__all__ = ["app"]
