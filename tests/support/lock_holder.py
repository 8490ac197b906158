"""Run a few lines of Python as another process that shares a workspaces folder's lock files.

The process prints `ready <value>` once it holds what the script took, then
waits; tests end it with SIGKILL, as a crash would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from config.env import PROJECT_ROOT

PREAMBLE = """\
import os, sys, time
from pathlib import Path
from config.sandbox import SandboxSettings
root = Path({root!r})
settings = SandboxSettings(
    workspaces_dir=root / "workspaces", shared_dir=root / "shared", memories_dir=root / "memories", lease_ttl_seconds=8
)
def ready(value=""):
    print("ready", value, flush=True)
"""


def hold(root: Path, script: str) -> tuple[subprocess.Popen[str], str]:
    """Start `script` in a new Python process; return it and what it printed after `ready`."""
    code = PREAMBLE.format(root=str(root)) + textwrap.dedent(script)
    process = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if not line or line[0] != "ready":
        process.kill()
        process.wait(30)
        msg = f"the lock holder did not get ready (printed {line!r}, exit {process.poll()})"
        raise AssertionError(msg)
    return process, " ".join(line[1:])


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL: no clean-up code runs, exactly like a crash."""
    process.kill()
    process.wait(30)
