"""Kernel lock files shared by every server process that serves one workspaces folder.

Several server processes (on one host, or on several hosts sharing the folder)
may serve the same workspaces; whatever they must agree on lives in lock files
under `<workspaces>.locks/`, never in one process's memory. `flock` is released
by the kernel when its holder exits or dies, so a crashed process never leaves a
lock taken. Across hosts this needs a filesystem whose `flock` spans them (a
local disk on one host; NFSv4, where Linux maps `flock` onto byte-range locks).
On such filesystems locks are owned per process, not per open file, so callers
keep at most one open file per lock file per process (see `sandbox.coordination.thread_use`).

Which lock guards what, the order they are taken in, who may unlink a lock file
and what a forked child holds: `docs/locks.md`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.coordination.process_state import PathLock, SandboxProcess, sandbox_process


def locks_dir(settings: SandboxSettings) -> Path:
    """Next to `workspaces/`, never inside anything a sandbox mounts."""
    return settings.workspaces_dir.with_name(settings.workspaces_dir.name + ".locks")


def lock_subdir(settings: SandboxSettings, name: str) -> Path:
    """`<workspaces>.locks/<name>/`, created (0700) if missing."""
    folder = locks_dir(settings) / name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def digest(text: str) -> str:
    """A fixed-length file name for an id that may hold any character (user ids come from tokens)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def open_lock(path: Path, *, create: bool = True) -> int:
    """An fd on a lock file (0600); raises `FileNotFoundError` when `create` is off and it is missing."""
    flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    return os.open(path, flags, 0o600)


def try_lock(fd: int, operation: int) -> bool:
    """`flock(fd, operation | LOCK_NB)`: True when taken, False when another holder has it."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _still_named(fd: int, path: Path) -> bool:
    """Whether `path` still names the file `fd` is open on (not unlinked or replaced since it was opened)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def lock_named(path: Path, operation: int, *, wait: bool = True) -> int | None:
    """An fd holding `operation` (`LOCK_SH`/`LOCK_EX`) on the file `path` names now; None if `wait` is off and it is held.

    A lock file may be unlinked by `unlink_unheld` between our `open` and our
    `flock`; a lock on the unlinked file guards nothing, since the next caller
    creates a new one. So the lock is checked, once taken, to be on the file the
    path still names, and taken again on the new file when it is not.
    """
    while True:
        fd = open_lock(path)
        try:
            if wait:
                fcntl.flock(fd, operation)
            elif not try_lock(fd, operation):
                os.close(fd)
                return None
            if _still_named(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def unlink_unheld(path: Path) -> bool:
    """Delete the lock file `path` only while holding it exclusively; False (kept) when anyone holds it.

    Deleting a held lock file would let the next caller create a fresh one and
    take it at once, beside the holder. Holding it while unlinking, together with
    `lock_named`'s re-check, means nobody can hold a lock on a file nobody can open.
    Callers must not hold `path` themselves through another fd (see the module docstring).
    """
    try:
        fd = open_lock(path, create=False)
    except FileNotFoundError:
        return True
    try:
        if not try_lock(fd, fcntl.LOCK_EX):
            return False
        if _still_named(fd, path):
            path.unlink()
        return True
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive_file_lock(path: Path) -> Iterator[None]:
    """Hold `path`'s exclusive lock for the `with` block, waiting for it (all threads, all processes, all hosts).

    `flock` belongs to the open file, and on NFS to the process, so two threads of
    one process would not exclude each other through it: a thread lock per path
    comes first. The fd is registered while held, so a child forked meanwhile
    closes its copy instead of holding the lock after this block lets it go.
    """
    state = sandbox_process()
    with state.file_locks_lock:
        entry = state.file_locks.setdefault(path, PathLock())
        entry.users += 1
    try:
        with entry.lock:
            yield from _flock_named(state, path)
    finally:
        with state.file_locks_lock:
            entry.users -= 1
            if not entry.users and state.file_locks.get(path) is entry:
                del state.file_locks[path]


def _flock_named(state: SandboxProcess, path: Path) -> Iterator[None]:
    """Yield once holding `flock(LOCK_EX)` on the file `path` names, the fd registered with `state` meanwhile."""
    while True:
        fd = open_lock(path)
        with state.file_locks_lock:
            state.file_lock_fds.add(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _still_named(fd, path):  # else `unlink_unheld` took it away while we waited (see `lock_named`)
                yield
                return
        finally:
            with state.file_locks_lock:
                state.file_lock_fds.discard(fd)
            os.close(fd)  # closing the last fd releases the flock
