"""Per-user caps: how many commands one user may run at once, across all their threads.

The count must hold across server processes (several may serve one deployment),
so it lives in the kernel, not in a Python counter: a running command holds one
of `SANDBOX_MAX_RUNNING_PER_USER` lock files (`flock`) under
`<workspaces>.locks/<user digest>/`. The kernel releases a lock when its holder
finishes or dies, so a crashed server never leaves a slot taken. Past the cap the
command is refused at once with a message that names the setting; other users
hold other files and are unaffected.

The cap on a user's session containers is counted from Docker's labels instead
(see `SandboxDeployment`), under `user_lock`, so two processes cannot both start
the container that passes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.errors import UserCapError


def locks_dir(settings: SandboxSettings) -> Path:
    """Per-user lock files: next to `workspaces/`, never inside anything a sandbox mounts."""
    return settings.workspaces_dir.with_name(settings.workspaces_dir.name + ".locks")


def _user_dir(settings: SandboxSettings, user_id: str) -> Path:
    """A fixed-length name per user id (ids come from tokens and may hold any character)."""
    digest = hashlib.sha256(user_id.encode()).hexdigest()[:32]
    folder = locks_dir(settings) / digest
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try_slot(folder: Path, cap: int) -> int | None:
    """An fd holding one free slot's lock, or None when all `cap` slots are held."""
    for index in range(cap):
        fd = _open_lock(folder / f"running-{index}.lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        return fd
    return None


@contextlib.contextmanager
def running_slot(settings: SandboxSettings, user_id: str) -> Iterator[None]:
    """Hold one of the user's running-command slots for the `with` block, or raise `UserCapError`."""
    cap = settings.max_running_per_user
    fd = _try_slot(_user_dir(settings, user_id), cap)
    if fd is None:
        msg = (
            f"user {user_id!r} already has {cap} command(s) running at once, the most allowed "
            f"(SANDBOX_MAX_RUNNING_PER_USER={cap}); this command did not run. Wait for one to finish, then try again."
        )
        raise UserCapError(msg)
    try:
        yield
    finally:
        os.close(fd)  # closing the last fd releases the flock


@contextlib.contextmanager
def user_lock(settings: SandboxSettings, user_id: str) -> Iterator[None]:
    """Exclusive per user across processes: count-then-start is one step under it."""
    fd = _open_lock(_user_dir(settings, user_id) / "containers.lock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
