"""Whether a thread's session container is in use, by any server process, and when it was last used.

A session container serves its thread from whichever process runs the thread's
next command, so "in use" and "last used" cannot live in one process's memory.
Each thread has a use file per Docker engine (several hosts may each run their
own engine; a thread may have a container on each),
`<workspaces>.locks/threads/<engine digest>/<thread digest>.use`:

- a command holds it shared (`LOCK_SH`) while it runs in the container (`using`);
  on the way out it writes its process's lease id into it, so the file's mtime
  is the thread's last use and its content the last user;
- whoever stops or removes the container (idle stop, the container caps, a
  graceful stop, retention) first takes it exclusively without waiting
  (`unused`). A running command anywhere makes that fail, so nobody stops a
  container under a command; a command that arrives meanwhile waits for the stop
  to finish, then finds the container stopped and starts it again.

The kernel drops a dead process's lock, so a crash never leaves a container
"in use". Within one process all users of a thread share one open file (locks
are per process on NFS, where closing any fd would drop them all).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.coordination.locks import digest, lock_named, lock_subdir, locks_dir, unlink_unheld
from sandbox.coordination.process_state import sandbox_process

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LastUse:
    """When a thread's container was last used (seconds since the epoch) and by which process."""

    at: float
    by: str
    """The lease id of the process whose command last finished there; "" if none has yet."""


@dataclass
class UseHold:
    """The hold of this process on one use file."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    """Commands of this process running in the container; they share `fd`'s shared lock."""
    fd: int = -1
    pins: int = 0
    """Callers inside `using`/`unused` for this file; the hold is dropped when none are."""

    def drop_in_forked_child(self) -> None:
        """A forked child runs none of its parent's commands: close its copy of the shared lock's fd."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
        self.fd = -1


def use_file(settings: SandboxSettings, engine: str, thread_id: str) -> Path:
    """The use file of the thread's container on `engine` (ids are hashed: one name length, one character set)."""
    return lock_subdir(settings, f"threads/{digest(engine)[:16]}") / f"{digest(thread_id)}.use"


@contextlib.contextmanager
def _pinned(path: Path) -> Iterator[UseHold]:
    state = sandbox_process()
    with state.use_lock:
        entry = state.use_holds.setdefault(path, UseHold())
        entry.pins += 1
    try:
        yield entry
    finally:
        with state.use_lock:
            entry.pins -= 1
            if not entry.pins and state.use_holds.get(path) is entry:
                del state.use_holds[path]


@contextlib.contextmanager
def using(settings: SandboxSettings, engine: str, thread_id: str, user: str) -> Iterator[None]:
    """Mark the thread's container in use for the `with` block; then record `user` as its last user.

    Waits while another process is stopping the container (that takes a second at most).
    """
    path = use_file(settings, engine, thread_id)
    with _pinned(path) as entry:
        with entry.lock:
            if not entry.users:
                fd = lock_named(path, fcntl.LOCK_SH)
                assert fd is not None
                entry.fd = fd
            entry.users += 1
        try:
            yield
        finally:
            with entry.lock:
                entry.users -= 1
                if not entry.users:
                    fd, entry.fd = entry.fd, -1
                    try:
                        _record(fd, user)
                    finally:
                        os.close(fd)  # the last fd on it: the shared lock goes with it


def _record(fd: int, user: str) -> None:
    """Write the last user; the write sets the file's mtime, the last use."""
    data = user.encode()
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    except OSError:  # a full disk must not fail the command; idle stops may then come early
        logger.warning("Could not record the last use of %s", fd, exc_info=True)


@contextlib.contextmanager
def unused(settings: SandboxSettings, engine: str, thread_id: str) -> Iterator[LastUse | None]:
    """Hold the thread's container exclusively for the `with` block, or get None at once if it is in use.

    Yields the last use, read under the lock, so a caller can still decide not to act.
    """
    path = use_file(settings, engine, thread_id)
    with _pinned(path) as entry:
        if not entry.lock.acquire(blocking=False):
            yield None  # this process is starting or finishing a command there
            return
        try:
            if entry.users:
                yield None
                return
            fd = lock_named(path, fcntl.LOCK_EX, wait=False)
            if fd is None:
                yield None  # another process runs a command there
                return
            try:
                yield _read(fd)
            finally:
                os.close(fd)
        finally:
            entry.lock.release()


def _read(fd: int) -> LastUse:
    by = os.pread(fd, 128, 0).decode("ascii", errors="replace").strip()
    return LastUse(at=os.fstat(fd).st_mtime, by=by)


def last_used(settings: SandboxSettings, engine: str, thread_id: str) -> float | None:
    """When the thread's container on `engine` was last used (its use file's mtime); None if no use is recorded."""
    try:
        return use_file(settings, engine, thread_id).stat().st_mtime
    except FileNotFoundError:
        return None


def remove_use_files(settings: SandboxSettings, thread_id: str) -> None:
    """Delete a deleted thread's use files, on every engine's side, except those a command still holds.

    A held one stays (`unlink_unheld`): the container it guards is still in use, and
    a stop must keep seeing that. What stays is a few bytes in the locks folder.
    """
    held_here = sandbox_process().use_holds
    for path in (locks_dir(settings) / "threads").glob(f"*/{digest(thread_id)}.use"):
        if path not in held_here:  # this process's own hold: a second fd on it would drop the lock on NFS
            unlink_unheld(path)
