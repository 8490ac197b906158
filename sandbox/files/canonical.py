"""Where a container path lands after the file tools' own walk: the path a permission rule must see.

`WalkSession.resolve` follows symlinks inside the roots and bounds `..` by them,
but it yields fds, not names. The name of what it reached is read back from
the kernel (`/proc/self/fd`) and made a container path again relative to the
root's own fd, so the answer is the walk's, not a second lexical guess. Parts
of the path that do not exist yet (a file about to be written) are appended to
the deepest existing directory as written.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

from sandbox.files.fd_walk import Target, VPath
from sandbox.files.walk_session import WalkSession


class Landing(NamedTuple):
    """Where a path lands: its container path, and whether an existing directory is there."""

    path: str
    is_dir: bool


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def _container_path(s: WalkSession, target: Target) -> str:
    root_fd = s.root(target.root)
    if root_fd is None:
        raise FileNotFoundError(target.root)
    host_root = _fd_path(root_fd).rstrip("/")
    if target.name is None or target.parent is None:
        assert target.fd is not None  # a directory reached as a whole
        host = _fd_path(target.fd)
    else:
        host = f"{_fd_path(target.parent).rstrip('/')}/{target.name}"
    if host != host_root and not host.startswith(host_root + "/"):
        msg = f"walk left /{target.root}"
        raise OSError(msg)
    return f"/{target.root}{host[len(host_root) :]}"


def _is_dir(target: Target) -> bool:
    if target.fd is not None:
        return stat.S_ISDIR(os.fstat(target.fd).st_mode)
    if target.parent is None or target.name is None:
        return False
    try:
        return stat.S_ISDIR(os.stat(target.name, dir_fd=target.parent, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def canonical_path(s: WalkSession, vp: VPath, *, follow_last: bool = True) -> Landing:
    """Where `vp` resolves to; a missing tail is kept as written below what exists (and is no directory)."""
    missing: list[str] = []
    parts = list(vp.parts)
    while True:
        current = VPath(vp.raw, "/".join(["", vp.root or "", *parts]), vp.root, tuple(parts))
        try:
            if not parts:
                root = f"/{vp.root}"
                return (
                    Landing("/".join([root, *missing]), is_dir=False)
                    if missing
                    else Landing(root, is_dir=s.root(vp.root or "") is not None)
                )
            target = s.resolve(current, follow_last=follow_last or bool(missing))
            if missing:
                return Landing("/".join([_container_path(s, target), *missing]), is_dir=False)
            return Landing(_container_path(s, target), is_dir=_is_dir(target))
        except (FileNotFoundError, NotADirectoryError):
            missing.insert(0, parts.pop())
