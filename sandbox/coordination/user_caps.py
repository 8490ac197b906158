"""Per-user caps: how many commands one user may run at once, across all their threads.

The count must hold across server processes (several may serve one deployment),
so it lives in the kernel, not in a Python counter: a running command holds one
of `SANDBOX_MAX_RUNNING_PER_USER` lock files (`flock`) under
`<workspaces>.locks/<user digest>/`. The kernel releases a lock when its holder
finishes or dies, so a crashed server never leaves a slot taken. Past the cap the
command is refused at once with a message that names the setting; other users
hold other files and are unaffected.

The cap on a user's session containers is counted from Docker's labels instead
(see `SandboxDeployment`), under one lock every process takes to start a session
container, so two processes cannot both start the container that passes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.coordination.locks import digest, lock_subdir, open_lock, try_lock
from sandbox.coordination.process_state import sandbox_process
from sandbox.metrics import events as metrics
from sandbox.runs.errors import UserCapError


def _user_dir(settings: SandboxSettings, user_id: str) -> Path:
    """A fixed-length name per user id (ids come from tokens and may hold any character)."""
    return lock_subdir(settings, digest(user_id))


def _try_slot(folder: Path, cap: int) -> tuple[Path, int] | None:
    """One free slot (its path and an fd holding its lock), or None when all `cap` slots are held."""
    state = sandbox_process()
    for index in range(cap):
        path = folder / f"running-{index}.lock"
        with state.slots_lock:  # a slot this process holds is never opened twice (locks are per process on NFS)
            if path in state.running_slots:
                continue
            fd = open_lock(path)
            try:
                taken = try_lock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            if taken:
                state.running_slots[path] = fd
                return path, fd
            os.close(fd)
    return None


@contextlib.contextmanager
def running_slot(settings: SandboxSettings, user_id: str) -> Iterator[None]:
    """Hold one of the user's running-command slots for the `with` block, or raise `UserCapError`."""
    cap = settings.max_running_per_user
    slot = _try_slot(_user_dir(settings, user_id), cap)
    if slot is None:
        raise running_cap_error(settings, user_id, cap)
    path, fd = slot
    state = sandbox_process()
    try:
        yield
    finally:
        with state.slots_lock:
            if state.running_slots.get(path) == fd:  # else a fork emptied the registry: fd is not ours to close twice
                state.running_slots.pop(path)
            os.close(fd)  # closing the last fd releases the flock


def running_cap_error(settings: SandboxSettings, user_id: str, running: int) -> UserCapError:
    """The refusal of a command past the user's running cap: `running` commands already run.

    `running` is below `SANDBOX_MAX_RUNNING_PER_USER` only when the command pool is
    smaller than the cap lets one user hold (`SANDBOX_COMMAND_THREADS`); the message names that too.
    """
    cap = settings.max_running_per_user
    metrics.refused("running_cap" if running >= cap else "pool_share")
    which = f"SANDBOX_MAX_RUNNING_PER_USER={cap}"
    if running < cap:
        which += f"; SANDBOX_COMMAND_THREADS={settings.command_pool_threads} lets one user hold {running}"
    msg = (
        f"user {user_id!r} already has {running} command(s) running at once, the most allowed "
        f"({which}); this command did not run. Wait for one to finish, then try again."
    )
    return UserCapError(msg)
