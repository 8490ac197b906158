"""Per-thread filesystem identity: let the kernel check file access as the sandbox user.

When the server runs as root, host-side file tools would otherwise bypass every
permission the sandbox user has to respect (a `chmod 000` file, a root-only dir).
`setfsuid`/`setfsgid` and the raw `setgroups` syscall change the credentials of
the calling thread only, so one worker thread can act as the sandbox user while
the rest of the server stays root.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import platform
from collections.abc import Iterator

logger = logging.getLogger(__name__)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setfsuid.argtypes = (ctypes.c_uint,)
_libc.setfsgid.argtypes = (ctypes.c_uint,)
_libc.syscall.restype = ctypes.c_long
_QUERY_ID = 0xFFFFFFFF
"""An invalid id: `setfsuid(-1)` changes nothing and returns the current fsuid."""
_SYS_SETGROUPS = (("x86_64", 116), ("aarch64", 159), ("arm64", 159), ("riscv64", 159))
"""Raw syscall number by machine: glibc's `setgroups()` would apply the change to every thread."""


def _set_thread_groups(groups: list[int]) -> None:
    number = next((n for machine, n in _SYS_SETGROUPS if machine == platform.machine()), None)
    if number is None:
        msg = f"cannot set per-thread groups on {platform.machine()}"
        raise PermissionError(errno.EPERM, msg)
    array = (ctypes.c_uint * max(len(groups), 1))(*groups)
    if _libc.syscall(ctypes.c_long(number), ctypes.c_long(len(groups)), array) != 0:
        err = ctypes.get_errno()
        raise PermissionError(err, f"setgroups failed: {os.strerror(err)}")


@contextlib.contextmanager
def fs_identity(uid: int, gid: int, groups: list[int] | None = None) -> Iterator[None]:
    """Give the calling thread the file permissions of `uid`/`gid` (and supplementary `groups`, else `[gid]`), then undo it.

    Linux credentials are per thread and `setfsuid`/`setfsgid` are raw per-thread
    syscalls, so other threads of the server keep running as root meanwhile. A
    non-zero fsuid also drops the thread's filesystem capabilities, so the kernel
    checks every open, mkdir and unlink exactly as for the sandbox user. Requires
    root (CAP_SETUID/CAP_SETGID); raises PermissionError if the switch did not
    take, so no operation runs with the wrong identity.
    """
    saved_groups = os.getgroups()
    saved_gid = _libc.setfsgid(gid)
    saved_uid = _libc.setfsuid(uid)
    try:
        try:
            _set_thread_groups([gid] if groups is None else groups)
            if _libc.setfsuid(_QUERY_ID) != uid or _libc.setfsgid(_QUERY_ID) != gid:
                raise PermissionError(errno.EPERM, "setfsuid/setfsgid did not take effect")
        except PermissionError as exc:
            logger.error("Cannot take file identity %d:%d (%s); refusing the file operation", uid, gid, exc.strerror)
            raise
        yield
    finally:
        _libc.setfsuid(saved_uid)
        _libc.setfsgid(saved_gid)
        _set_thread_groups(saved_groups)


def server_identity(groups: list[int]) -> contextlib.AbstractContextManager[None]:
    """Inside `fs_identity`, act as the process itself again (then return to the sandbox user).

    Switching back to fsuid 0 raises the thread's filesystem capabilities again, so the
    server can prepare and open a host folder the sandbox user has no right to reach.
    `groups` are the thread's own, read before it switched (`os.getgroups()` is per thread).
    """
    return fs_identity(os.getuid(), os.getgid(), groups)
