"""One file operation's walk: the roots it reaches, and every path resolved as the container would.

A `WalkSession` opens a root only when the walk reaches it (opening may mount the
root's quota disk), keeps every fd the operation opened, and closes them all at
the end. `resolve` walks a container path one `O_NOFOLLOW` lookup at a time from a
root fd (`sandbox.files.fd_walk`), re-walking symlink targets inside the roots.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections import deque
from collections.abc import Callable, Collection, Mapping

from sandbox.files.fd_walk import MAX_SYMLINK_HOPS, PATH_FLAGS, ROOTS, WRITABLE_ROOTS, Target, VPath, reopen_regular
from sandbox.files.path_errors import PathError, escape_error, read_only_error


class WalkSession:
    """The fds of one operation: the roots it reaches (opened on first use), plus everything the walks open.

    Opening a root may mean mounting its quota disk (`HostFiles` supplies `open_root`),
    so an operation opens only the roots its path, or a symlink on the way, leads to.
    """

    def __init__(
        self, names: Collection[str], open_root: Callable[[str], int | None], opened: Mapping[str, int | None] | None = None
    ) -> None:
        """`opened`: roots the caller opened already (this session closes their fds too)."""
        self._names = frozenset(names)
        self._open_root = open_root
        self._opened: dict[str, int | None] = dict(opened or {})
        self._fds: list[int] = [fd for fd in self._opened.values() if fd is not None]

    def close(self) -> None:
        """Close every fd this operation opened."""
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()

    def root(self, name: str) -> int | None:
        """The fd of root `name`, opened now if this operation had not reached it yet; None if missing or not a root."""
        if name not in self._names:
            return None
        if name not in self._opened:
            fd = self._open_root(name)
            self._opened[name] = fd
            if fd is not None:
                self._fds.append(fd)
        return self._opened[name]

    def all_roots(self) -> list[tuple[str, int]]:
        """Every root that exists, by name: what a walk from `/` covers."""
        found = [(name, self.root(name)) for name in sorted(self._names)]
        return [(name, fd) for name, fd in found if fd is not None]

    def root_fd(self, root: str, vp: VPath) -> int:
        """The open fd of `root`; `vp` names the path in an escape error."""
        if root not in self._names:
            raise escape_error(vp.raw)
        fd = self.root(root)
        if fd is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        return fd

    def open_file(self, vp: VPath, flags: int) -> int:
        """Resolve `vp` and open the regular file it names (following in-root symlinks)."""
        target = self.resolve(vp)
        if target.fd is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        return reopen_regular(target.fd, flags)

    def resolve(self, vp: VPath, *, follow_last: bool = True, mkdirs: bool = False) -> Target:
        """Walk `vp` component by component from its root fd, as the container would.

        Every lookup is `openat(O_PATH|O_NOFOLLOW)` relative to the previous fd, so a
        component swapped for a symlink mid-walk is seen as a symlink, never
        traversed. Symlinks are expanded by re-walking their target: absolute targets
        are container paths (only paths under this sandbox's roots lead anywhere),
        relative ones continue from the link's directory, and `..` may not climb
        above a root. `mkdirs` creates missing directories (writable roots only).
        """
        if vp.root is None:
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        cur = _Cursor(vp, vp.root, [self.root_fd(vp.root, vp)], deque(vp.parts))
        while cur.queue:
            name = cur.queue.popleft()
            if name in ("", ".", ".."):
                cur.skip_or_climb(name)
                continue
            last = not cur.queue
            if last and not follow_last:
                return Target(cur.stack[-1], name, None, cur.root)
            fd = self._lookup(cur, name, last=last, mkdirs=mkdirs)
            if fd is None:
                if last:
                    return Target(cur.stack[-1], name, None, cur.root)
                continue
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                self._follow(cur, fd)
                continue
            if last:
                return Target(cur.stack[-1], name, fd, cur.root)
            if not stat.S_ISDIR(mode):
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
            cur.stack.append(fd)
        return Target(None, None, cur.stack[-1], cur.root)

    def _lookup(self, cur: _Cursor, name: str, *, last: bool, mkdirs: bool) -> int | None:
        """`O_PATH` fd on `name` in the current dir; None if missing (or just created, and re-queued)."""
        try:
            fd = os.open(name, PATH_FLAGS, dir_fd=cur.stack[-1])
        except FileNotFoundError:
            if last:
                return None
            if not mkdirs:
                raise
            if cur.root not in WRITABLE_ROOTS:
                raise read_only_error(cur.vp.raw) from None
            cur.count_hop()  # bounds retries if something keeps deleting what we create
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=cur.stack[-1])
            cur.queue.appendleft(name)  # look it up again: whatever is there now gets checked
            return None
        self._fds.append(fd)
        return fd

    def _follow(self, cur: _Cursor, link_fd: int) -> None:
        """Queue a symlink's target in place of the link, as the container would resolve it."""
        cur.count_hop()
        target = os.readlink("", dir_fd=link_fd)  # the very link we inspected: no second lookup
        if target.startswith("/"):
            cur.root, rest = _split_absolute_link(target, cur.vp)
            cur.stack = [self.root_fd(cur.root, cur.vp)]
        else:
            rest = target.split("/")
        cur.queue.extendleft(reversed(rest))


class _Cursor:
    """Mutable state of one `WalkSession.resolve` walk."""

    def __init__(self, vp: VPath, root: str, stack: list[int], queue: deque[str]) -> None:
        self.vp = vp
        self.root = root
        self.stack = stack
        """Directory fds from the root down to where we are; `..` pops."""
        self.queue = queue
        """Components still to walk; symlink targets are pushed onto the front."""
        self.hops = 0

    def skip_or_climb(self, name: str) -> None:
        if name == "..":
            if len(self.stack) == 1:
                raise escape_error(self.vp.raw)
            self.stack.pop()

    def count_hop(self) -> None:
        self.hops += 1
        if self.hops > MAX_SYMLINK_HOPS:
            raise PathError(f"Path '{self.vp.raw}': too many levels of symbolic links")


def _split_absolute_link(target: str, vp: VPath) -> tuple[str, list[str]]:
    """Map an absolute symlink target (a container path) to `(root, remaining parts)`."""
    parts = target.split("/")
    for i, part in enumerate(parts):
        if part in ("", "."):
            continue
        if part in ROOTS:
            return part, parts[i + 1 :]
        break
    raise escape_error(vp.raw)
