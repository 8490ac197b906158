"""What all disk images may add up to: in total (`SANDBOX_DISK_TOTAL`) and per user (`SANDBOX_DISK_PER_USER`).

Sparse images overcommit the host disk, so `SANDBOX_DISK_TOTAL` caps the sum of
all images' sizes (workspaces and memories); a new one past it is refused with a
clear error. So that one user's threads cannot take that whole total from everyone
else, `SANDBOX_DISK_PER_USER` caps the sum of one user's images the same way. Each
image's owner is recorded beside it when it is created (`<image>.owner`, in the
same root-only directory), because a workspace image is named by its thread, and
the thread's owner is known only to the server.

Checked by `sandbox.disks.disk_quota` under its images lock before a new image
is made; reads only file metadata otherwise (metrics call `disk_use_by_user`).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from config.auth import AuthSettings
from config.sandbox import SandboxSettings
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


def committed_bytes(settings: SandboxSettings, images: ImageList | None = None) -> int:
    """What all existing workspaces and memory folders may grow to: the sum of their images' sizes.

    `images`: `_all_images(settings)` when the caller listed them already (a listing stats every thread's images).
    """
    return sum(st.st_size for _, st in (_all_images(settings) if images is None else images))


def disk_total(settings: SandboxSettings, images: ImageList | None = None) -> int:
    """`SANDBOX_DISK_TOTAL`, or (auto) 90% of the disk's free space plus what images already use (`images` as above)."""
    if settings.disk_total_bytes is not None:
        return settings.disk_total_bytes
    images_dir = settings.disk_images_dir
    probe_dir = images_dir if images_dir.is_dir() else images_dir.parent
    st = os.statvfs(probe_dir)
    allocated = sum(st.st_blocks * 512 for _, st in (_all_images(settings) if images is None else images))
    return int(AUTO_TOTAL_SHARE * (st.f_bavail * st.f_frsize + allocated))


def check_budgets(settings: SandboxSettings, disk: QuotaDisk, user_id: str) -> None:
    """Refuse `disk` past `user_id`'s budget or past the total, from one listing of all images.

    The caller holds the images lock, so no other new image lands between the check and the creation.
    """
    images = _all_images(settings)
    check_user_budget(settings, disk, user_id, images)
    check_total(settings, disk, images)


def check_total(settings: SandboxSettings, disk: QuotaDisk, images: ImageList | None = None) -> None:
    """Refuse `disk` if all images together would then promise more than `SANDBOX_DISK_TOTAL` (`images` as above)."""
    images = _all_images(settings) if images is None else images
    committed, total, quota = committed_bytes(settings, images), disk_total(settings, images), disk.size
    if committed + quota > total:
        source = "SANDBOX_DISK_TOTAL" if settings.disk_total_bytes is not None else "SANDBOX_DISK_TOTAL=auto (90% of the disk's free space)"
        msg = (
            f"no disk space left for a new disk: {disk.what} needs {human_size(quota)} ({disk.setting}), "
            f"existing workspaces, memories and artifacts already hold quotas of {human_size(committed)}, "
            f"and {source} allows {human_size(total)} in all. "
            "Delete threads that are no longer needed, or ask the operator to raise SANDBOX_DISK_TOTAL."
        )
        metrics.refused("disk_total")
        raise WorkspaceDiskError(msg)


def owner_path(image: Path) -> Path:
    """Where the owner of `image` is recorded: beside it, as root-only as the image."""
    return image.with_name(image.name + OWNER_SUFFIX)


def write_owner(image: Path, user_id: str) -> None:
    """Record `user_id` as the owner of `image` (atomically: a reader sees no half-written record)."""
    record = owner_path(image)
    staging = record.with_name(f".{record.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"user_id": user_id}, handle)
    os.replace(staging, record)


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
    """Every workspace and memory image with its recorded owner (`images` as for `committed_bytes`)."""
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


def user_budget(settings: SandboxSettings, images: ImageList | None = None) -> int | None:
    """Most one user's images may add up to (`SANDBOX_DISK_PER_USER`), or None for no per-user budget.

    `auto` is a quarter of the total once users sign in, never less than one
    thread's disks; in single-user mode the one user may use the whole total.
    """
    if settings.disk_per_user_bytes is not None:
        return settings.disk_per_user_bytes or None
    if not _authentication_on():
        return None
    return max(disk_total(settings, images) // AUTO_USER_SHARE, settings.first_thread_disk_bytes)


def check_user_budget(settings: SandboxSettings, disk: QuotaDisk, user_id: str, images: ImageList | None = None) -> None:
    """Refuse `disk` if `user_id`'s images would then add up to more than their budget (`images` as for `committed_bytes`)."""
    budget = user_budget(settings, images)
    if budget is None:
        return
    held = sum(st.st_size for owner, st in _owned_images(settings, images) if owner == user_id)
    if held + disk.size > budget:
        source = "SANDBOX_DISK_PER_USER"
        if settings.disk_per_user_bytes is None:
            source += "=auto (a quarter of SANDBOX_DISK_TOTAL)"
        msg = (
            f"your disk budget is used up: {disk.what} needs {human_size(disk.size)} ({disk.setting}), "
            f"your threads' workspaces, artifacts, snapshots and memories already hold quotas of {human_size(held)}, "
            f"and {source} allows {human_size(budget)} per user. "
            "Delete threads you no longer need, or ask the operator to raise SANDBOX_DISK_PER_USER."
        )
        metrics.refused("disk_budget")
        raise WorkspaceDiskError(msg)
