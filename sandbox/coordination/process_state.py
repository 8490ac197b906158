"""The one owner of what the sandbox keeps in a server process's memory, and its one accessor.

`langgraph.json` loads the graph, the auth module and the HTTP app as separate
imports, so nothing built by one can be handed to another at startup; yet they
must share one view of the sandbox: one set of settings, one deployment (its
Docker client and worker pools), and this process's hold on the lock files that
processes agree through (its leases, the use files of running commands, the
per-user command slots, the disk images lock). All of it lives on one
`SandboxProcess`, reached only through `sandbox_process()`; no other sandbox
module keeps module-level state (`tests/unit/test_process_state.py` checks).

A forked child is another process: it holds none of its parent's locks, runs
none of its commands and has none of its threads. The after-fork hook below
closes the child's copies of every lock fd the parent held (closing a copy
never releases the parent's lock, while keeping one would keep the lock held
after the parent let it go) and starts the child's registries, locks and pools
empty. `docs/locks.md` is the protocol these locks follow.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from config.sandbox import SandboxSettings

if TYPE_CHECKING:
    from sandbox.containers.deployment import SandboxDeployment
    from sandbox.containers.pool_claims import Claim
    from sandbox.coordination.fair_pool import FairPool
    from sandbox.coordination.process_lease import ProcessLease
    from sandbox.coordination.thread_use import UseHold
    from sandbox.metrics.events import SandboxMetrics
    from sandbox.runs.audit import AuditLog


@dataclass
class PathLock:
    """The thread lock of one exclusive lock file, and how many callers hold or wait for it (guarded by `file_locks_lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


@dataclass
class SandboxProcess:
    """Everything process-wide: settings, the deployment, lock holds, caches; one per process."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    """Guards the fields below that have no lock of their own (lazy settings and deployment)."""
    _settings: SandboxSettings | None = None
    _deployment: SandboxDeployment | None = None
    _metrics: SandboxMetrics | None = None

    leases: dict[Path, ProcessLease] = field(default_factory=dict)
    """This process's leases, by locks folder (one per workspaces folder it serves)."""
    leases_lock: threading.Lock = field(default_factory=threading.Lock)
    use_holds: dict[Path, UseHold] = field(default_factory=dict)
    """This process's hold on each thread use file a caller is inside `using`/`unused` for."""
    use_lock: threading.Lock = field(default_factory=threading.Lock)
    running_slots: dict[Path, int] = field(default_factory=dict)
    """Slot files this process holds, and the fd holding each: it never opens one twice."""
    slots_lock: threading.Lock = field(default_factory=threading.Lock)
    file_locks: dict[Path, PathLock] = field(default_factory=dict)
    """One thread lock per exclusive lock file someone in this process holds or waits for, taken before its `flock`
    (which two threads of one process share); dropped when the last one leaves, since many are per thread."""
    file_lock_fds: set[int] = field(default_factory=set)
    """Fds holding an exclusive lock file's `flock` right now: a forked child closes its copies."""
    file_locks_lock: threading.Lock = field(default_factory=threading.Lock)
    """Guards the two fields above."""
    disk_probes: dict[Path, str | None] = field(default_factory=dict)
    """Whether quota disks work, probed once per images folder: None, or why not."""
    disk_probe_lock: threading.Lock = field(default_factory=threading.Lock)
    audit_logs: dict[Path, AuditLog] = field(default_factory=dict)
    audit_lock: threading.Lock = field(default_factory=threading.Lock)
    pool_claims: dict[str, Claim] = field(default_factory=dict)
    """Pool claims this process has read, by claim file path (`sandbox.containers.pool_claims.read_claim`)."""
    pool_claims_lock: threading.Lock = field(default_factory=threading.Lock)
    pools: weakref.WeakSet[FairPool] = field(default_factory=weakref.WeakSet)
    """Every worker pool of this process, so a forked child can start them empty."""
    deployments: weakref.WeakSet[SandboxDeployment] = field(default_factory=weakref.WeakSet)
    """Every deployment of this process (the graph's, tests'), so the server can reach them on stop or delete."""
    kernel: str | None = None
    """The running kernel's tag (`process_lease.kernel_tag`), read once."""

    @property
    def settings(self) -> SandboxSettings:
        """`SANDBOX_*`, read from the environment (and `.env`) on first use."""
        with self.lock:
            if self._settings is None:
                self._settings = SandboxSettings.from_env()
            return self._settings

    @property
    def deployment(self) -> SandboxDeployment:
        """The deployment the graph, the file routes and the server's removal share; built lazily, never touching Docker."""
        settings = self.settings
        with self.lock:
            if self._deployment is None:
                from sandbox.containers.deployment import SandboxDeployment  # noqa: PLC0415 - containers build on this module

                self._deployment = SandboxDeployment(settings)
            return self._deployment

    @property
    def metrics(self) -> SandboxMetrics:
        """The process's Prometheus registry and metrics (`sandbox.metrics`), built on first use."""
        with self.lock:
            if self._metrics is None:
                from sandbox.metrics.events import SandboxMetrics  # noqa: PLC0415 - metrics build on this module

                self._metrics = SandboxMetrics()
            return self._metrics

    def after_fork_in_child(self) -> None:
        """Drop every hold inherited from the parent and start the registries empty (see the module docstring)."""
        for name in (
            "lock",
            "leases_lock",
            "use_lock",
            "slots_lock",
            "file_locks_lock",
            "disk_probe_lock",
            "audit_lock",
            "pool_claims_lock",
        ):
            setattr(self, name, threading.Lock())  # the parent's may have been held by a thread the child lacks
        for lease in self.leases.values():
            lease.drop_in_forked_child()
        self.leases.clear()
        for hold in self.use_holds.values():
            hold.drop_in_forked_child()
        self.use_holds.clear()
        inherited = [*self.running_slots.values(), *self.file_lock_fds]
        self.running_slots.clear()
        self.file_lock_fds.clear()
        for fd in inherited:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.file_locks.clear()
        self.audit_logs.clear()
        self._metrics = None  # a child counts its own (its parent's counts are the parent's, and their locks may be held)
        for pool in list(self.pools):
            pool.start_empty()


class _Holder:
    """Where the one `SandboxProcess` is kept; an instance, so the module never rebinds a global."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: SandboxProcess | None = None


_HOLDER: Final = _Holder()
"""The only module-level state of the sandbox: the accessor's slot (allow-listed in the state test)."""


def sandbox_process() -> SandboxProcess:
    """The `SandboxProcess` of the running process, created on first use: the one way to the sandbox's process-wide state."""
    with _HOLDER.lock:
        if _HOLDER.process is None:
            _HOLDER.process = SandboxProcess()
        return _HOLDER.process


def _after_fork_in_child() -> None:
    _HOLDER.lock = threading.Lock()
    if _HOLDER.process is not None:
        _HOLDER.process.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
