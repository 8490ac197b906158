"""Who a pooled container belongs to, and the host mounts that give it a thread's folders.

Docker cannot change a container's labels after it is created, so a container
started ahead of time (`sandbox.containers.warm_pool`) carries a slot label
(`LABEL_POOL`) instead of thread and user labels. When a thread takes it, the
assignment is a claim file `<workspaces>.pool/claims/<slot>` holding the thread
and user ids. Every reader of ownership (caps, idle stops, thread removal, the
reconciler) goes through `identity`, so an assigned pooled container counts
exactly like a container labelled for that thread, and an unassigned one for nobody.

A claim is made with `link(2)` of a complete temporary file onto the claim's
name: it either appears whole or fails because it exists, in any number of
processes at once, so two claimers never share a container. Removing a pooled
container that nobody took (a drain or a sweep) claims it first as `DRAINING`,
so it cannot be handed to a thread while it is being removed.

The folders reach the container after its creation through mount propagation:
each pooled container bind-mounts `<workspaces>.pool/mounts/<slot>/<name>` (an
empty folder) at `/workspace`, `/memories` and `/artifacts` with `rslave`
propagation, and `<workspaces>.pool/mounts` is a shared mount of itself. Binding
the thread's folders (mounted disk images or plain folders) onto those points on
the host makes them appear inside the container; the file tools keep using the
same host folders, so both see one tree.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import LABEL_PREFIX, LABEL_THREAD, LABEL_USER
from sandbox.coordination.locks import exclusive_file_lock, lock_subdir
from sandbox.coordination.process_state import sandbox_process
from sandbox.disks.mount_calls import MS_BIND, MS_REC, MS_SHARED, mount, unmount
from sandbox.runs.errors import SandboxError

LABEL_POOL = f"{LABEL_PREFIX}.pool"
"""A pooled container's slot name: the key of its claim file and of its mount points."""

POOL_MOUNTS = ("workspace", "memories", "artifacts", "previews")
"""The per-thread and per-user folders a pooled container receives after creation."""

DRAINING = ("", "")
"""The (thread, user) claim of a pooled container being removed: nobody's, and nobody may take it."""


@dataclass(frozen=True)
class Claim:
    """The thread a pooled container was handed to, and its owner."""

    thread_id: str
    user_id: str


@dataclass(frozen=True)
class Claimed:
    """A pooled container claimed for a thread under the session start lock, its folders not bound yet (`WarmPool.hand_over`)."""

    container_id: str
    slot: str


def pool_dir(settings: SandboxSettings) -> Path:
    """`<workspaces>.pool/`: next to `workspaces/`, never inside anything a sandbox mounts."""
    return settings.workspaces_dir.with_name(settings.workspaces_dir.name + ".pool")


def claims_dir(settings: SandboxSettings) -> Path:
    """Where claim files live (0700: only the server reads them)."""
    folder = pool_dir(settings) / "claims"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def mounts_dir(settings: SandboxSettings) -> Path:
    """The shared mount under which every pooled container's mount points live."""
    return pool_dir(settings) / "mounts"


def mount_point(settings: SandboxSettings, slot: str, name: str) -> Path:
    """The host folder bound at `/<name>` in the pooled container `slot`."""
    return mounts_dir(settings) / slot / name


def _escaped(path: Path) -> str:
    """`path` as `/proc/self/mountinfo` spells it (octal escapes for blanks and backslashes)."""
    return str(path).replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011").replace("\n", "\\012")


def _mount_table() -> dict[str, list[str]]:
    """Every mount point of this process's namespace (escaped) -> its last `/proc/self/mountinfo` entry (split).

    Read once per operation, not once per point: the table grows with every
    thread's disks and binds, and parsing it is what a check costs.
    """
    table: dict[str, list[str]] = {}
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            table[fields[4]] = fields
    return table


def _mount_fields(path: Path) -> list[str] | None:
    """The last `/proc/self/mountinfo` entry mounted on `path` (split), or None.

    `os.path.ismount` cannot tell a bind of a folder on the same filesystem from a
    plain folder, and the pool binds plain folders when disk quotas are off.
    """
    return _mount_table().get(_escaped(path))


def _is_mount(path: Path) -> bool:
    return _mount_fields(path) is not None


def _is_shared_mount(path: Path) -> bool:
    """Whether `path` is itself a mount point with shared propagation."""
    fields = _mount_fields(path)
    return fields is not None and any(field.startswith("shared:") for field in fields[6 : fields.index("-")])


def ensure_shared_mounts(settings: SandboxSettings) -> Path:
    """Make `<workspaces>.pool/mounts` a shared bind mount of itself, once per host; return it.

    Docker refuses `rslave` propagation on a source whose mount is private (as `/`
    is on many hosts), and without a shared peer group a later host mount would
    never reach the container. Raises `SandboxError` when this process may not mount.
    """
    root = mounts_dir(settings)
    root.mkdir(parents=True, exist_ok=True, mode=0o755)
    with exclusive_file_lock(lock_subdir(settings, "pool") / "shared.lock"):
        if _is_shared_mount(root):
            return root
        try:
            if not _is_mount(root):
                mount(str(root), root, MS_BIND)
            mount("none", root, MS_SHARED | MS_REC)
        except OSError as exc:
            msg = f"the container pool needs a server that may mount folders (root): {exc}"
            raise SandboxError(msg) from exc
    return root


def prepare_slot(settings: SandboxSettings, slot: str) -> dict[str, Path]:
    """Create the empty mount points of a new pooled container (root-owned 0755: nothing writes there unassigned)."""
    ensure_shared_mounts(settings)
    points = {}
    for name in POOL_MOUNTS:
        point = mount_point(settings, slot, name)
        point.mkdir(parents=True, exist_ok=True, mode=0o755)
        points[name] = point
    return points


def _shows(point: Path, source: Path) -> bool:
    """Whether `point` already shows `source` itself (a bind of it is on top): the same device and inode.

    Two stats, where reading the mount table costs a parse of every thread's disks
    and binds; and a point that shows anything else (a stale bind of another
    folder) is bound again, so the container sees `source`, never what was there.
    """
    try:
        seen, wanted = point.stat(), source.stat()
    except FileNotFoundError:
        return False
    return (seen.st_dev, seen.st_ino) == (wanted.st_dev, wanted.st_ino)


def attach(settings: SandboxSettings, slot: str, sources: dict[str, Path]) -> None:
    """Bind each source folder onto the slot's mount point (skipping one that shows it already): they appear in the container."""
    for name, source in sources.items():
        point = mount_point(settings, slot, name)
        point.mkdir(parents=True, exist_ok=True, mode=0o755)
        if _shows(point, source):
            continue
        mount(str(source), point, MS_BIND | MS_REC)


def detach(settings: SandboxSettings, slot: str) -> None:
    """Unmount whatever is bound on the slot's mount points and delete them (the container is gone or going).

    A workspace's disk image can only be released once no bind of it is left, so
    this runs before `remove_workspace` whenever a pooled container goes.
    """
    folder = mounts_dir(settings) / slot
    for name in POOL_MOUNTS:
        point = folder / name
        while _is_mount(point):
            try:
                unmount(point)
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.ENOENT):
                    break
                unmount(point, lazy=True)
        with contextlib.suppress(FileNotFoundError, OSError):
            point.rmdir()
    with contextlib.suppress(FileNotFoundError, OSError):
        folder.rmdir()


def claim(settings: SandboxSettings, slot: str, thread_id: str, user_id: str) -> bool:
    """Record that `slot` is (`thread_id`, `user_id`)'s; False when another claimer has it already.

    Atomic across processes: a complete file is linked onto the name, which fails if it exists.
    """
    folder = claims_dir(settings)
    temporary = folder / f".{slot}.{os.getpid()}.{threading.get_ident()}"
    temporary.write_text(json.dumps({"thread": thread_id, "user": user_id}), encoding="utf-8")
    try:
        os.link(temporary, folder / slot)
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    return True


KNOWN_CLAIMS_LIMIT = 4096
"""Most claims a process keeps once read (`SandboxProcess.pool_claims`): a claim never changes while
it exists (slots are random and never reused), so every listing, which reads the claim of each
pooled container, checks that each file is still there instead of reading and parsing it."""


def read_claim(settings: SandboxSettings, slot: str) -> Claim | None:
    """The claim on `slot`, or None while nobody took it, or once its container went (any process may remove it)."""
    path = os.fspath(claims_path(settings, slot))
    known = sandbox_process().pool_claims.get(path)
    if known is not None and os.path.exists(path):
        return known
    return _read_claim_file(path)


def _read_claim_file(path: str) -> Claim | None:
    """Read and remember one claim file (keyed by its path); None when it is gone."""
    process = sandbox_process()
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.loads(handle.read())
    except FileNotFoundError:
        with process.pool_claims_lock:
            process.pool_claims.pop(path, None)
        return None
    found = Claim(thread_id=str(record.get("thread", "")), user_id=str(record.get("user", "")))
    with process.pool_claims_lock:
        if len(process.pool_claims) >= KNOWN_CLAIMS_LIMIT:  # slots of containers long gone: forget the oldest
            del process.pool_claims[next(iter(process.pool_claims))]
        process.pool_claims[path] = found
    return found


def claimed_slots(settings: SandboxSettings, thread_id: str) -> list[str]:
    """Slots claimed for `thread_id` (by any process): its pooled containers, found without asking Docker for every container.

    Every new thread's first command asks, with as many claims as pooled containers were
    ever taken and still run: the folder's listing says which exist, and a claim this
    process read before is not read (nor looked up) again.
    """
    folder = pool_dir(settings) / "claims"
    known = sandbox_process().pool_claims
    slots: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                found = known.get(entry.path) or _read_claim_file(entry.path)
                if found is not None and found.thread_id == thread_id:
                    slots.append(entry.name)
    except FileNotFoundError:
        return []
    return slots


def claims_path(settings: SandboxSettings, slot: str) -> Path:
    """The claim file of `slot`."""
    return pool_dir(settings) / "claims" / slot


def forget_claim(settings: SandboxSettings, slot: str) -> None:
    """Delete the claim of a removed pooled container."""
    path = claims_path(settings, slot)
    process = sandbox_process()
    with process.pool_claims_lock:
        process.pool_claims.pop(os.fspath(path), None)
    path.unlink(missing_ok=True)


def release(settings: SandboxSettings, slot: str) -> None:
    """After a pooled container is removed: unbind its folders and drop its claim."""
    detach(settings, slot)
    forget_claim(settings, slot)


def identity(settings: SandboxSettings, labels: dict[str, str]) -> tuple[str, str]:
    """(thread id, user id) of a container: from its labels, or from its claim when it is pooled ("" when nobody's)."""
    slot = labels.get(LABEL_POOL)
    if not slot:
        return labels.get(LABEL_THREAD, ""), labels.get(LABEL_USER, "")
    found = read_claim(settings, slot)
    if found is None:
        return "", ""
    return found.thread_id, found.user_id


def remove_pool_mounts(settings: SandboxSettings) -> None:
    """Unbind every slot and unmount the shared root (tests, benchmarks: after their containers are removed)."""
    for slot in known_slots(settings):
        release(settings, slot)
    root = mounts_dir(settings)
    while _is_mount(root):
        unmount(root, lazy=True)


def known_slots(settings: SandboxSettings) -> set[str]:
    """Slots that have mount points or a claim on this host (for the sweep of ones whose container is gone)."""
    found: set[str] = set()
    for folder in (mounts_dir(settings), pool_dir(settings) / "claims"):
        with contextlib.suppress(FileNotFoundError):
            found.update(entry.name for entry in os.scandir(folder) if not entry.name.startswith("."))
    return found
