"""Child processes of the entry point that end with it, however it ends.

Every long-lived thing the deployment starts (PostgreSQL, Redis, the uvicorn
supervisor, and the helpers it waits on) is a direct child that

- runs in its own process group, so a Ctrl-C at the terminal reaches only the entry
  point, which then stops them in order (server, Redis, PostgreSQL) instead of all
  of them dying at once;
- gets SIGKILL when the entry point dies (PR_SET_PDEATHSIG), so a SIGKILL of the
  entry point, which it cannot handle, still leaves nothing running.

The parent-death signal is set by `setpriv --pdeathsig`, which execs the program in
place, after its user switch: the kernel clears that setting whenever the
credentials change, so setting it before a switch to the `postgres` user would be
lost. It fires when the thread that forked dies, so children are only spawned from
the main thread (this program has no others). Setting it through `preexec_fn` is
avoided: that is unsafe once any library starts a thread.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import IO

from serve_log import log

Output = int | IO[bytes] | None


def user_prefix(user: str | None) -> list[str]:
    """The command prefix that runs a program as `user` (None: ourselves) and dies with us."""
    dies_with_us = ["--pdeathsig", "KILL"]
    if user is None or os.geteuid() != 0 or user == "root":
        return ["setpriv", *dies_with_us, "--"]
    entry = pwd.getpwnam(user)
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", *dies_with_us, "--"]


def spawn(command: Sequence[str], *, user: str | None = None, output: Output = None) -> subprocess.Popen[bytes]:
    """Start `command` (as `user`) as a child in its own process group that dies with this process.

    `output` receives its stdout and stderr (None: ours).
    """
    return subprocess.Popen(
        [*user_prefix(user), *command],
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        process_group=0,
    )


def run(command: Sequence[str], *, user: str | None = None, output: Output = None) -> int:
    """Run `command` to its end as a child like `spawn`'s; its exit code.

    When a stop signal interrupts the wait, the child is killed before the stop goes on.
    """
    child = spawn(command, user=user, output=output)
    try:
        return child.wait()
    except BaseException:
        kill_group(child)
        raise


def kill_group(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL `child` and whatever else runs in its process group; reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        child.kill()
    child.wait()


def stop(name: str, child: subprocess.Popen[bytes], how: signal.Signals, timeout: float) -> None:
    """Send `child` the signal `how` and give it `timeout` seconds to end, then kill its process group."""
    if child.poll() is not None:
        return
    log(f"{name}: stopping")
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(how)
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"{name}: did not stop within {timeout:.0f}s; killing it")
        kill_group(child)


class Stopped(Exception):
    """A request to stop (a signal, or the parent's death); `code` is the exit status that says which."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


STOP_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
"""The signals that stop the deployment in order, and the exit status each ends it with."""
PARENT_CHECK_SECONDS = 0.5
"""How often the entry point looks whether the process that started it is still there."""


def stop_on_signals() -> None:
    """Turn the stop signals, and the death of this process's parent, into `Stopped` in the main thread.

    The parent is checked on a timer (SIGALRM) rather than with this process's own
    parent-death signal, which would fire when the parent's *thread* that started us
    ends, not the parent itself.
    """
    parent = os.getppid()

    def on_signal(signum: int, _frame: object) -> None:
        raise Stopped(STOP_SIGNALS[signal.Signals(signum)], f"got {signal.Signals(signum).name}")

    def on_timer(_signum: int, _frame: object) -> None:
        if os.getppid() != parent:
            raise Stopped(STOP_SIGNALS[signal.SIGTERM], f"the process that started this one (pid {parent}) is gone")

    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, on_signal)
    signal.signal(signal.SIGALRM, on_timer)
    signal.setitimer(signal.ITIMER_REAL, PARENT_CHECK_SECONDS, PARENT_CHECK_SECONDS)
    if os.getppid() != parent:  # died before the timer was set
        raise Stopped(STOP_SIGNALS[signal.SIGTERM], f"the process that started this one (pid {parent}) is gone")


def hold_signals() -> None:
    """Let nothing interrupt the stopping itself: a second Ctrl-C waits for it (a SIGKILL still ends it all)."""
    signal.setitimer(signal.ITIMER_REAL, 0)
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


class Cleanups:
    """What to undo when the entry point ends, undone last first (like a shell's EXIT trap)."""

    def __init__(self) -> None:
        self._steps: list[Callable[[], object]] = []

    def add(self, step: Callable[[], object]) -> None:
        """Undo `step` on the way out."""
        self._steps.append(step)

    def run(self) -> None:
        """Undo everything, last first; a step that fails is reported and the others still run."""
        while self._steps:
            step = self._steps.pop()
            try:
                step()
            except Exception as failure:  # one failed step must not leave the others undone
                log(f"while stopping: {type(failure).__name__}: {failure}")


def wait_for(condition: Callable[[], bool], *, child: subprocess.Popen[bytes], timeout: float) -> bool:
    """Poll `condition` until it holds (True) or `child` exits or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if child.poll() is not None or time.monotonic() > deadline:
            return condition()
        time.sleep(0.2)
    return True
