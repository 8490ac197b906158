"""What all disk images may add up to: in total (`SANDBOX_DISK_TOTAL`) and per user (`SANDBOX_DISK_PER_USER`).

Sparse images overcommit the host disk, so `SANDBOX_DISK_TOTAL` caps the sum of
all images' sizes (workspaces and memories); a new one past it is refused with a
clear error. So that one user's threads cannot take that whole total from everyone
else, `SANDBOX_DISK_PER_USER` caps the sum of one user's images the same way. Each
image's owner is recorded beside it when it is created (`<image>.owner`, in the
same root-only directory), because a workspace image is named by its thread, and
the thread's owner is known only to the server.

Checked by `sandbox.disks.disk_quota` under its images lock before a new image
is made, against the running sums of `sandbox.disks.budget_tally` (a full count
stats every thread's images); reads only file metadata otherwise (metrics call
`disk_use_by_user`).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from config.auth import AuthSettings
from config.sandbox import SandboxSettings
from sandbox.coordination.atomic_files import replace_atomically
from sandbox.metrics import events as metrics
from sandbox.runs.errors import WorkspaceDiskError

if TYPE_CHECKING:
    from sandbox.disks.quota_disks import QuotaDisk

IMAGE_SUFFIX = ".img"
OWNER_SUFFIX = ".owner"
"""`<name>.img.owner` records, as JSON, the user an image belongs to (the per-user budget counts by it)."""
AUTO_USER_SHARE = 4
"""With `SANDBOX_DISK_PER_USER=auto` and authentication on, one user may hold a quarter of the total."""
AUTO_TOTAL_SHARE = 0.9
"""With `SANDBOX_DISK_TOTAL=auto`, all quotas together may promise this share of what the disk can hold."""


def human_size(size: int) -> str:
    """`64 MiB`, `2 GiB`: sizes as an operator would write them."""
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


ImageList = list[tuple[str, os.stat_result]]
"""Images as (host path, stat): one listing serves every sum a check needs."""


def _images(images_dir: Path) -> ImageList:
    """The images in one folder; plain strings, since a check lists every thread's images and needs only their stats."""
    found: ImageList = []
    try:
        entries = os.scandir(images_dir)
    except (FileNotFoundError, NotADirectoryError):
        return found
    with entries:
        for entry in entries:
            if entry.name.endswith(IMAGE_SUFFIX) and not entry.name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    found.append((entry.path, entry.stat(follow_symlinks=False)))
    return found


def _all_images(settings: SandboxSettings) -> ImageList:
    """Every workspace, memory, artifacts and snapshot store image, with its stat."""
    return (
        _images(settings.disk_images_dir)
        + _images(settings.memories_images_dir)
        + _images(settings.artifacts_images_dir)
        + _images(settings.snapshots_images_dir)
    )


def disk_total(settings: SandboxSettings, images: ImageList | None = None) -> int:
    """`SANDBOX_DISK_TOTAL`, or (auto) 90% of the disk's free space plus what images already use.

    `images`: `_all_images(settings)` when the caller listed them already (a listing stats every thread's images).
    """
    if settings.disk_total_bytes is not None:
        return settings.disk_total_bytes
    return total_from(settings, sum(st.st_blocks * 512 for _, st in (_all_images(settings) if images is None else images)))


def total_from(settings: SandboxSettings, allocated: int) -> int:
    """`SANDBOX_DISK_TOTAL` when images occupy `allocated` bytes of the host's disk (auto: 90% of free plus that)."""
    if settings.disk_total_bytes is not None:
        return settings.disk_total_bytes
    images_dir = settings.disk_images_dir
    probe_dir = images_dir if images_dir.is_dir() else images_dir.parent
    st = os.statvfs(probe_dir)
    return int(AUTO_TOTAL_SHARE * (st.f_bavail * st.f_frsize + allocated))


@dataclass(frozen=True)
class Commitments:
    """What all existing images add up to: every number a new disk's budget checks compare with."""

    committed: int
    """The sum of their sizes: what they may grow to."""
    allocated: int
    """Bytes they occupy on the host disk now (`SANDBOX_DISK_TOTAL=auto` counts them as free)."""
    by_user: dict[str, int]
    """The sum of sizes per recorded owner (images made before owners were recorded count for nobody)."""


def count_commitments(settings: SandboxSettings) -> Commitments:
    """Count `Commitments` from one listing of every image and its owner record."""
    by_user: dict[str, int] = {}
    committed = allocated = 0
    for owner, st in _owned_images(settings):
        committed += st.st_size
        allocated += st.st_blocks * 512
        if owner is not None:
            by_user[owner] = by_user.get(owner, 0) + st.st_size
    return Commitments(committed=committed, allocated=allocated, by_user=by_user)


@dataclass(frozen=True)
class Refusal:
    """Why a new disk does not fit: the metric's reason and the message for the caller."""

    reason: str
    message: str


def budget_refusal(settings: SandboxSettings, disk: QuotaDisk, user_id: str, counted: Commitments) -> Refusal | None:
    """Whether `disk` would take `user_id` past their budget or all images past the total, given `counted`.

    The caller holds the images lock, so no other new image lands between the check and the creation.
    """
    total = total_from(settings, counted.allocated)
    budget = user_budget(settings, total=total)
    held = counted.by_user.get(user_id, 0)
    if budget is not None and held + disk.size > budget:
        source = "SANDBOX_DISK_PER_USER"
        if settings.disk_per_user_bytes is None:
            source += "=auto (a quarter of SANDBOX_DISK_TOTAL)"
        message = (
            f"your disk budget is used up: {disk.what} needs {human_size(disk.size)} ({disk.setting}), "
            f"your threads' workspaces, artifacts, snapshots and memories already hold quotas of {human_size(held)}, "
            f"and {source} allows {human_size(budget)} per user. "
            "Delete threads you no longer need, or ask the operator to raise SANDBOX_DISK_PER_USER."
        )
        return Refusal("disk_budget", message)
    if counted.committed + disk.size > total:
        source = "SANDBOX_DISK_TOTAL" if settings.disk_total_bytes is not None else "SANDBOX_DISK_TOTAL=auto (90% of the disk's free space)"
        message = (
            f"no disk space left for a new disk: {disk.what} needs {human_size(disk.size)} ({disk.setting}), "
            f"existing workspaces, memories and artifacts already hold quotas of {human_size(counted.committed)}, "
            f"and {source} allows {human_size(total)} in all. "
            "Delete threads that are no longer needed, or ask the operator to raise SANDBOX_DISK_TOTAL."
        )
        return Refusal("disk_total", message)
    return None


def refuse(refusal: Refusal) -> NoReturn:
    """Count the refusal and raise it as the error the caller reports."""
    metrics.refused(refusal.reason)
    raise WorkspaceDiskError(refusal.message)


def owner_path(image: Path) -> Path:
    """Where the owner of `image` is recorded: beside it, as root-only as the image."""
    return image.with_name(image.name + OWNER_SUFFIX)


def write_owner(image: Path, user_id: str) -> None:
    """Record `user_id` as the owner of `image` (atomically: a reader sees no half-written record)."""
    replace_atomically(owner_path(image), json.dumps({"user_id": user_id}).encode("utf-8"))


def _read_owner(image: Path) -> str | None:
    """The recorded owner of `image`; None for an image made before owners were recorded (or a damaged record)."""
    try:
        data = json.loads(owner_path(image).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    owner = data.get("user_id") if isinstance(data, dict) else None
    return owner if isinstance(owner, str) and owner else None


@dataclass(frozen=True)
class DiskUse:
    """One user's disks: what their quotas promise, and what the sparse images occupy on the host now."""

    reserved: int
    """The sum of the user's image sizes: what counts towards `SANDBOX_DISK_PER_USER` and `SANDBOX_DISK_TOTAL`."""
    used: int
    """Bytes the user's images occupy on the host disk (allocated blocks; images are sparse)."""


def _owned_images(settings: SandboxSettings, images: ImageList | None = None) -> list[tuple[str | None, os.stat_result]]:
    """Every workspace and memory image with its recorded owner (`images`: `_all_images(settings)` when already listed)."""
    return [(_read_owner(Path(image)), st) for image, st in (_all_images(settings) if images is None else images)]


def disk_use_by_user(settings: SandboxSettings) -> dict[str, DiskUse]:
    """Each user's reserved and used image bytes (workspaces and memories), by user id.

    Images made before owners were recorded are left out until their thread is used again.
    Reads only file metadata, so metrics may call it on a timer (from a worker thread).
    """
    totals: dict[str, tuple[int, int]] = {}
    for owner, st in _owned_images(settings):
        if owner is not None:
            reserved, used = totals.get(owner, (0, 0))
            totals[owner] = (reserved + st.st_size, used + st.st_blocks * 512)
    return {owner: DiskUse(reserved=reserved, used=used) for owner, (reserved, used) in totals.items()}


def _authentication_on() -> bool:
    return AuthSettings.from_env().enabled


def user_budget(settings: SandboxSettings, images: ImageList | None = None, *, total: int | None = None) -> int | None:
    """Most one user's images may add up to (`SANDBOX_DISK_PER_USER`), or None for no per-user budget.

    `auto` is a quarter of the total (`total` when the caller knows it) once users
    sign in, never less than one thread's disks; in single-user mode the one user
    may use the whole total.
    """
    if settings.disk_per_user_bytes is not None:
        return settings.disk_per_user_bytes or None
    if not _authentication_on():
        return None
    return max((disk_total(settings, images) if total is None else total) // AUTO_USER_SHARE, settings.first_thread_disk_bytes)
