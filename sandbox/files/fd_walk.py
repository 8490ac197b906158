"""Race-free host file access: walk container paths from directory fds, never by name.

The file tools work on the host directories that back the container's
`/workspace` (read-write), `/shared` (read-only) and `/memories` (read-write, the
user's memory folder). That is only safe because
the agent may be racing us from inside the container: it can swap any directory
for a symlink at any moment. So no path is ever resolved to a string and
re-opened. We walk from an fd on the root, one component at a time, with
`O_NOFOLLOW`; symlinks are followed only by re-walking their target the way the
container would see it, and only while that target stays inside the roots.
Regular files are opened by re-opening an `O_PATH` fd through `/proc/self/fd`, so
the type check and the open concern the same inode and a FIFO or device node is
never opened at all.

Linux only (`O_PATH`, `/proc/self/fd`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Collection, Generator, Iterator
from typing import NamedTuple

from sandbox.files.path_errors import PathError

MAX_SYMLINK_HOPS = 40
"""The kernel's own limit per lookup; past it we report a loop."""

ROOTS = ("workspace", "shared", "memories", "artifacts")
"""The top-level container directories the file tools reach (each a bind mount)."""
WRITABLE_ROOTS = frozenset({"workspace", "memories", "artifacts"})
"""Roots mounted read-write; `/shared` is read-only for everyone."""
PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class VPath(NamedTuple):
    """A container path, parsed and checked against the roots (see `parse_path`)."""

    raw: str
    """The path as the caller wrote it, for messages."""
    text: str
    """Normalised virtual path: `/`, `/workspace`, `/workspace/a/b`."""
    root: str | None
    """`workspace`, `shared`, `memories`, or None for `/`."""
    parts: tuple[str, ...]
    """Components below the root."""


class Target(NamedTuple):
    """Where a resolved path landed.

    `parent` and `name` locate the final entry (so it can be created, unlinked or
    renamed without another lookup); `fd` is an `O_PATH` fd on it when it exists.
    `name` is None when the path ends at a directory reached as a whole (a root).
    """

    parent: int | None
    name: str | None
    fd: int | None
    root: str


# --- fd helpers ---------------------------------------------------------------------


def reopen_regular(opath_fd: int, flags: int) -> int:
    """Open the regular file behind an `O_PATH` fd, without any path lookup.

    Re-opening through `/proc/self/fd` pins the inode we already inspected, so a
    FIFO (which would block) or a device node (whose open has side effects) is
    refused before it is ever opened, and nothing can be swapped in meanwhile.
    """
    st = os.fstat(opath_fd)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise PathError("not a regular file (FIFO, socket or device)")
    fd = os.open(f"/proc/self/fd/{opath_fd}", flags | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    if not os.path.samestat(st, os.fstat(fd)):
        os.close(fd)
        raise PathError("file changed while it was opened")
    return fd


def open_regular_at(dir_fd: int, name: str, flags: int) -> int:
    """`reopen_regular` for the entry `name` of an open directory."""
    opath = os.open(name, PATH_FLAGS, dir_fd=dir_fd)
    try:
        return reopen_regular(opath, flags)
    finally:
        os.close(opath)


def read_capped(fd: int, cap: int) -> bytes | None:
    """Read to EOF, or return None once more than `cap` bytes turn up."""
    chunks: list[bytes] = []
    total = 0
    while chunk := os.read(fd, min(1 << 20, cap + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            return None
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data`, however short the kernel's writes are."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def replace_contents(fd: int, data: bytes) -> None:
    """Make `data` the whole content of the open file, or leave the file as it was.

    The blocks are reserved first (`posix_fallocate`), so a full disk or disk
    quota fails before a single byte of the old content is overwritten: no
    half-written file is ever left behind.
    """
    if data:
        old_size = os.fstat(fd).st_size
        try:
            os.posix_fallocate(fd, 0, len(data))
        except OSError:
            os.ftruncate(fd, old_size)  # drop whatever part of the reservation was made
            raise
    os.lseek(fd, 0, os.SEEK_SET)
    write_all(fd, data)
    os.ftruncate(fd, len(data))


def rmtree_at(parent_fd: int, name: str) -> None:
    """Remove directory `name` and everything below it, never following a symlink.

    Unlike `shutil.rmtree`, every directory is opened with `O_DIRECTORY|O_NOFOLLOW`,
    so an entry swapped for a symlink (even one to a device) is unlinked, not
    entered. Iterative, so deep trees cannot exhaust the Python stack.
    """
    frames: list[tuple[int, str, int, Iterator[str]]] = []

    def enter(pfd: int, child: str) -> None:
        try:
            fd = os.open(child, DIR_FLAGS, dir_fd=pfd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            os.unlink(child, dir_fd=pfd)  # swapped for a symlink or file meanwhile: remove the entry itself
            return
        frames.append((pfd, child, fd, iter(os.listdir(fd))))

    try:
        enter(parent_fd, name)
        while frames:
            pfd, dname, fd, children = frames[-1]
            child = next(children, None)
            if child is None:
                frames.pop()
                os.close(fd)
                os.rmdir(dname, dir_fd=pfd)
                continue
            with contextlib.suppress(FileNotFoundError):  # vanished meanwhile: fine
                if stat.S_ISDIR(os.stat(child, dir_fd=fd, follow_symlinks=False).st_mode):
                    enter(fd, child)
                else:
                    os.unlink(child, dir_fd=fd)
    finally:
        for _, _, fd, _ in frames:
            os.close(fd)


class TreeWalk:
    """Depth-first walk over the regular files below a directory fd.

    Directories are opened `O_DIRECTORY|O_NOFOLLOW` relative to their parent's fd,
    so the walk never leaves the tree and never descends into symlinks. Only as
    many fds are open as the tree is deep. Records why it may be incomplete.
    """

    def __init__(self, top_fd: int, deadline: float, prune: frozenset[str] = frozenset()) -> None:
        self._top_fd = top_fd
        self._deadline = deadline
        self._prune = prune
        self.timed_out = False
        self.unreadable = False

    def files(self) -> Generator[tuple[int, str, str, os.stat_result]]:
        """Yield `(dir_fd, name, rel_path, lstat)`; `dir_fd` is valid until the next item."""
        frames: list[tuple[int, str, Iterator[os.DirEntry[str]]]] = []
        try:
            self._enter(frames, self._top_fd, ".", "")
            while frames:
                fd, prefix, entries = frames[-1]
                entry = next(entries, None)
                if entry is None:
                    os.close(frames.pop()[0])
                    continue
                if time.monotonic() > self._deadline:
                    self.timed_out = True
                    return
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if entry.name not in self._prune:
                        self._enter(frames, fd, entry.name, f"{prefix}{entry.name}/")
                elif stat.S_ISREG(st.st_mode):
                    yield fd, entry.name, prefix + entry.name, st
        finally:
            for fd, _, _ in frames:
                os.close(fd)

    def _enter(self, frames: list[tuple[int, str, Iterator[os.DirEntry[str]]]], parent_fd: int, name: str, prefix: str) -> None:
        try:
            fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            return
        except OSError:
            self.unreadable = True
            return
        try:
            with os.scandir(fd) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            os.close(fd)
            self.unreadable = True
            return
        frames.append((fd, prefix, iter(entries)))


def parse_path(path: object, *, roots: Collection[str]) -> VPath:
    """Normalise a container path; refuse relative, `..`, and anything off the roots.

    `roots` are the roots this sandbox has (`/shared` may be absent, `/memories`
    only exists for a known user).
    """
    if not isinstance(path, str) or not path:
        raise PathError(f"Path {path!r} is not a non-empty string")
    if "\x00" in path:
        raise PathError(f"Path {path!r} contains a NUL byte")
    names = [f"/{root}" for root in ROOTS if root in roots]
    reachable = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    if not path.startswith("/"):
        raise PathError(f"Path '{path}' is relative; file tools need an absolute path under {reachable}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathError(f"Path '{path}': path traversal ('..') is not allowed")
    if not parts:
        return VPath(path, "/", None, ())
    if parts[0] in roots and parts[0] in ROOTS:
        return VPath(path, "/" + "/".join(parts), parts[0], tuple(parts[1:]))
    raise PathError(f"Path '{path}' is outside the sandbox: file tools only reach {reachable}")
