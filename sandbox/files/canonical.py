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

from sandbox.files.fd_walk import Target, VPath, WalkSession


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def _container_path(s: WalkSession, target: Target) -> str:
    root_fd = s.roots.get(target.root)
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


def canonical_path(s: WalkSession, vp: VPath, *, follow_last: bool = True) -> str:
    """The container path `vp` resolves to; a missing tail is kept as written below what exists."""
    missing: list[str] = []
    parts = list(vp.parts)
    while True:
        current = VPath(vp.raw, "/".join(["", vp.root or "", *parts]), vp.root, tuple(parts))
        try:
            if not parts:
                return "/".join([f"/{vp.root}", *missing]) if missing else f"/{vp.root}"
            target = s.resolve(current, follow_last=follow_last or bool(missing))
            return "/".join([_container_path(s, target), *missing])
        except (FileNotFoundError, NotADirectoryError):
            missing.insert(0, parts.pop())
