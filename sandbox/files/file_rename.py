"""Rename (move) a file or folder inside a thread's writable roots, never over an existing one.

The agent has no rename tool (it runs `mv` in its shell), but the web client's
workspace panel renames for the thread's owner. It goes through the same checks
as the agent's file tools: `HostFiles`' path parsing (absolute, no `..`, on a
root), its writable roots (`/shared` is read-only), its race-free walk
(`sandbox.fd_walk`, symlinks followed only inside the roots), the sandbox user's
filesystem identity, and the agent-facing messages of `sandbox.path_errors`.

The rename itself is one `renameat2(..., RENAME_NOREPLACE)` between the two parent
directory fds the walk opened, so nothing is renamed by name and an entry that
appears at the target meanwhile is never overwritten. The last component is not
followed: renaming a symlink renames the link.
"""

from __future__ import annotations

import ctypes
import errno
import os

from sandbox.files.fd_walk import WRITABLE_ROOTS, Target, VPath
from sandbox.files.file_tools import HostFiles
from sandbox.files.path_errors import PathError, read_only_error
from sandbox.files.walk_session import WalkSession

RENAME_NOREPLACE = 1
"""`renameat2` flag (linux/fs.h): fail with EEXIST instead of replacing the target."""

_libc = ctypes.CDLL(None, use_errno=True)


def _rename_noreplace(src_dir: int, src_name: str, dst_dir: int, dst_name: str) -> None:
    """`renameat2(src_dir, src_name, dst_dir, dst_name, RENAME_NOREPLACE)`, raising `OSError` like `os.rename`."""
    result = _libc.renameat2(src_dir, os.fsencode(src_name), dst_dir, os.fsencode(dst_name), RENAME_NOREPLACE)
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _entry(s: WalkSession, vp: VPath) -> Target:
    """The parent fd and name of `vp`'s last component (not followed), in a writable root."""
    target = s.resolve(vp, follow_last=False)
    if target.root not in WRITABLE_ROOTS:
        raise read_only_error(vp.raw)
    if target.parent is None or target.name is None:
        raise IsADirectoryError(errno.EISDIR, "Is a directory")
    return target


def _exists(target: Target) -> bool:
    try:
        os.stat(target.name or "", dir_fd=target.parent, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def rename_path(files: HostFiles, source: str, target: str) -> None:
    """Move `source` to `target` (its folder must exist); raises `PathError` or `OSError` (see `path_errors.message`).

    `FileExistsError` when something is already at `target`; a root itself is
    neither moved nor replaced.
    """
    src_vp = files._parse_writable(source)  # the file tools' own path rules
    dst_vp = files._parse_writable(target)
    for vp in (src_vp, dst_vp):
        if not vp.parts:
            raise PathError(f"Path '{vp.raw}' is a root of the sandbox filesystem; it cannot be renamed or replaced")
    with files._session(src_vp.root) as s:  # as the sandbox user, each root opened once
        src = _entry(s, src_vp)
        if not _exists(src):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        dst = _entry(s, dst_vp)
        if _exists(dst):
            raise FileExistsError(errno.EEXIST, "File exists")
        _rename_noreplace(src.parent or 0, src.name or "", dst.parent or 0, dst.name or "")
