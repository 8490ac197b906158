"""Which server process owns a container, and whether that process still lives.

Any number of server processes, on one host or several, may share the Docker
engine and the workspaces folder. Each holds a lease: a file
`<workspaces>.locks/procs/<id>.lease`, exclusively `flock`ed for the process's
lifetime and touched every `SANDBOX_LEASE_TTL / 4` seconds (its heartbeat).
Ephemeral containers carry their owner's id in a label, so a sweep removes only
containers whose owner is dead, never one a live process is running a command in.

Whether an owner lives:
- same kernel (the same host, including containers sharing its kernel): its lock
  says so at once; the kernel releases it when the process dies, SIGKILL included;
- another host: the lock, where the shared filesystem carries `flock` between
  hosts (NFSv4), else a heartbeat younger than `SANDBOX_LEASE_TTL`. Hosts' clocks
  must agree to well within the TTL, and a process frozen for longer than it
  (SIGSTOP, a paused VM) may lose its ephemeral containers.

An id is `<kernel>-<pid>-<random>`: `<kernel>` is the first 12 hex digits of the
kernel's boot id, so "same kernel" is known from the id alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.coordination.locks import lock_subdir, locks_dir, open_lock, try_lock
from sandbox.coordination.process_state import sandbox_process

logger = logging.getLogger(__name__)

LEASE_SUFFIX = ".lease"
_ID = re.compile(r"^(?P<kernel>[0-9a-f]{12})-(?P<pid>[0-9]{1,10})-(?P<token>[0-9a-f]{8})$")


def kernel_tag() -> str:
    """12 hex digits naming the running kernel (its boot id), shared by every process on this host."""
    state = sandbox_process()
    if state.kernel is None:
        try:
            boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip().replace("-", "")
        except OSError:  # no procfs: the host name is the next best thing
            boot = hashlib.sha256(socket.gethostname().encode()).hexdigest()
        state.kernel = boot[:12].lower()
    return state.kernel


def leases_dir(settings: SandboxSettings) -> Path:
    """Where the processes serving `settings.workspaces_dir` keep their leases."""
    return lock_subdir(settings, "procs")


class ProcessLease:
    """A process's lease on one workspaces folder: held until the process exits (or `release`)."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.ttl = settings.lease_ttl_seconds
        self.id = f"{kernel_tag()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.path = leases_dir(settings) / f"{self.id}{LEASE_SUFFIX}"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: nobody else can hold it
            about = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
            os.write(fd, json.dumps(about).encode())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._released = threading.Event()
        self._heart = threading.Thread(target=self._beat_forever, name="sandbox-lease-heartbeat", daemon=True)
        self._heart.start()

    def beat(self) -> None:
        """Touch the lease file: proof of life for processes on other hosts."""
        os.utime(self._fd)

    def _beat_forever(self) -> None:
        while not self._released.wait(self.ttl / 4):
            try:
                self.beat()
            except OSError:  # a full or flaky shared disk: try again next time
                logger.exception("Could not refresh the sandbox lease %s", self.path)

    def release(self) -> None:
        """Give the lease up: this process's ephemeral containers become leftovers (tests)."""
        if self._released.is_set():
            return
        self._released.set()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)

    def drop_in_forked_child(self) -> None:
        """A forked child is another process: it must not keep its parent's lease alive."""
        self._released = threading.Event()  # a fresh one: the parent's may have been mid-wait at the fork
        self._released.set()
        with contextlib.suppress(OSError):
            os.close(self._fd)  # the child's copy; the parent's lock stays


def process_lease(settings: SandboxSettings) -> ProcessLease:
    """The lease of this process for `settings`' workspaces folder, taken on first use (then a dict lookup)."""
    key, state = locks_dir(settings), sandbox_process()
    with state.leases_lock:
        lease = state.leases.get(key)
        if lease is None or lease._released.is_set():
            lease = state.leases[key] = ProcessLease(settings)
        return lease


def _my_lease_id(settings: SandboxSettings) -> str | None:
    state = sandbox_process()
    with state.leases_lock:
        lease = state.leases.get(locks_dir(settings))
    return None if lease is None else lease.id


def release_lease(settings: SandboxSettings) -> None:
    """Give up this process's lease on `settings`' folder (tests: what a clean exit would leave)."""
    state = sandbox_process()
    with state.leases_lock:
        lease = state.leases.pop(locks_dir(settings), None)
    if lease is not None:
        lease.release()


def owner_alive(settings: SandboxSettings, owner: str, *, age: float) -> bool | None:
    """Whether the process `owner` (a container's label) still lives; None when `owner` is no lease id.

    `age` is how old the container is: a lease of another host that is not visible
    here yet (a shared filesystem's caches) counts as alive while the container is
    younger than `SANDBOX_LEASE_TTL`.
    """
    match = _ID.match(owner)
    if match is None:
        return None
    if owner == _my_lease_id(settings):
        return True  # never open our own lease again: on NFS, closing that fd would drop our lock
    folder = leases_dir(settings)
    same_kernel = match["kernel"] == kernel_tag()
    try:
        fd = open_lock(folder / f"{owner}{LEASE_SUFFIX}", create=False)
    except FileNotFoundError:
        return not same_kernel and age < settings.lease_ttl_seconds
    try:
        return _held_or_fresh(fd, same_kernel=same_kernel, ttl=settings.lease_ttl_seconds)
    finally:
        os.close(fd)


def _held_or_fresh(fd: int, *, same_kernel: bool, ttl: float) -> bool:
    """Alive: its lock is held, or (another host, whose locks may not reach us) its heartbeat is fresh."""
    if not try_lock(fd, fcntl.LOCK_EX):
        return True
    if same_kernel:
        return False  # the kernel released it: the process is gone
    return time.time() - os.fstat(fd).st_mtime < ttl


def other_live_processes(settings: SandboxSettings) -> list[str]:
    """Lease ids of the other server processes sharing `settings`' folders that still live (any host)."""
    folder, mine = leases_dir(settings), _my_lease_id(settings)
    alive = []
    for path in folder.glob(f"*{LEASE_SUFFIX}"):
        owner = path.name.removesuffix(LEASE_SUFFIX)
        if owner != mine and _ID.match(owner) and owner_alive(settings, owner, age=float("inf")):
            alive.append(owner)
    return alive


def sweep_dead_leases(settings: SandboxSettings) -> list[str]:
    """Delete the lease files of dead processes (after their containers were swept); their ids."""
    folder, mine = leases_dir(settings), _my_lease_id(settings)
    removed = []
    for path in folder.glob(f"*{LEASE_SUFFIX}"):
        owner = path.name.removesuffix(LEASE_SUFFIX)
        match = _ID.match(owner)
        if match is None or owner == mine:
            continue
        try:
            fd = open_lock(path, create=False)
        except FileNotFoundError:
            continue
        try:
            if not _held_or_fresh(fd, same_kernel=match["kernel"] == kernel_tag(), ttl=settings.lease_ttl_seconds):
                path.unlink(missing_ok=True)
                removed.append(owner)
        finally:
            os.close(fd)
    return removed
