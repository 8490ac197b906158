"""mount(2), umount2(2) and loop devices, called in-process instead of through `mount` and `umount`.

A new thread mounts up to three disk images, and a pooled container binds four
folders. Spawning util-linux `mount` for each costs milliseconds of CPU that grow
with the host's mount table (it parses `/proc/self/mountinfo` several times, and
that table holds every thread's disks and binds); the system calls themselves
take well under one. The loop device of an image is set up the way `mount -o
loop` does it, with `LO_FLAGS_AUTOCLEAR`: the kernel detaches it when its mount
goes (or when a failed mount closes it), so nothing here tracks devices.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
from pathlib import Path

MS_NOSUID = 2
MS_NODEV = 4
MS_NOATIME = 1024
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2

_LOOP_CTL_GET_FREE = 0x4C82
_LOOP_CONFIGURE = 0x4C0A
_LOOP_SET_FD = 0x4C00
_LOOP_SET_STATUS64 = 0x4C04
_LO_FLAGS_AUTOCLEAR = 4
_FREE_DEVICE_TRIES = 64
"""Another process may take the free device between asking and configuring it; ask again this often."""

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class _LoopInfo64(ctypes.Structure):
    """`struct loop_info64` (linux/loop.h)."""

    _fields_ = (
        ("lo_device", ctypes.c_uint64),
        ("lo_inode", ctypes.c_uint64),
        ("lo_rdevice", ctypes.c_uint64),
        ("lo_offset", ctypes.c_uint64),
        ("lo_sizelimit", ctypes.c_uint64),
        ("lo_number", ctypes.c_uint32),
        ("lo_encrypt_type", ctypes.c_uint32),
        ("lo_encrypt_key_size", ctypes.c_uint32),
        ("lo_flags", ctypes.c_uint32),
        ("lo_file_name", ctypes.c_char * 64),
        ("lo_crypt_name", ctypes.c_char * 64),
        ("lo_encrypt_key", ctypes.c_char * 32),
        ("lo_init", ctypes.c_uint64 * 2),
    )


class _LoopConfig(ctypes.Structure):
    """`struct loop_config` (linux/loop.h, `LOOP_CONFIGURE` since Linux 5.8)."""

    _fields_ = (
        ("fd", ctypes.c_uint32),
        ("block_size", ctypes.c_uint32),
        ("info", _LoopInfo64),
        ("reserved", ctypes.c_uint64 * 8),
    )


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: Path, flags: int, fstype: str | None = None) -> None:
    """Mount `source` on `target` (mount(2)); `OSError` with the call and the kernel's reason."""
    kind = fstype.encode() if fstype else None
    _check(_libc.mount(source.encode(), str(target).encode(), kind, flags, None), f"mount {source} on {target}")


def unmount(target: Path, *, lazy: bool = False) -> None:
    """umount2(2) `target`; `lazy` detaches it even while something holds it (`umount -l`)."""
    _check(_libc.umount2(str(target).encode(), MNT_DETACH if lazy else 0), f"umount {target}")


def loop_mount(image: Path, target: Path, flags: int) -> None:
    """Mount the ext4 filesystem in the file `image` on `target` through a free loop device (`mount -o loop`)."""
    image_fd = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    try:
        device, device_fd = _attach(image_fd, image)
        try:
            mount(device, target, flags, "ext4")
        finally:
            os.close(device_fd)  # with AUTOCLEAR, the last close of a device no mount holds detaches it
    finally:
        os.close(image_fd)


def _attach(image_fd: int, image: Path) -> tuple[str, int]:
    """A free loop device backed by `image_fd`, auto-clearing, and its open descriptor."""
    config = _LoopConfig(fd=image_fd)
    config.info.lo_flags = _LO_FLAGS_AUTOCLEAR
    config.info.lo_file_name = os.fsencode(image)[:63]  # what `losetup -l` shows
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(_FREE_DEVICE_TRIES):
            device = f"/dev/loop{fcntl.ioctl(control, _LOOP_CTL_GET_FREE)}"
            device_fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
            try:
                _configure(device_fd, config)
            except OSError as exc:
                os.close(device_fd)
                if exc.errno == errno.EBUSY:  # taken by another process since we asked
                    continue
                raise
            return device, device_fd
    finally:
        os.close(control)
    raise OSError(errno.EBUSY, f"no free loop device for {image} after {_FREE_DEVICE_TRIES} tries")


def _configure(device_fd: int, config: _LoopConfig) -> None:
    """Back the device with the file and set its flags: one call since Linux 5.8, two before."""
    try:
        fcntl.ioctl(device_fd, _LOOP_CONFIGURE, config)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTTY):
            raise
        fcntl.ioctl(device_fd, _LOOP_SET_FD, config.fd)
        fcntl.ioctl(device_fd, _LOOP_SET_STATUS64, config.info)
