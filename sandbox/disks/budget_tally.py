"""The running sums of all disk images, kept beside them, so a new disk's budget check reads one small file.

`SANDBOX_DISK_TOTAL` and `SANDBOX_DISK_PER_USER` compare a new disk with what every
existing image promises. Counting that lists and stats every thread's images (about
10 µs each), and a new thread makes up to three disks, each counted under the one
lock all new disks take: milliseconds per thousand threads for every new thread,
one after another. The tally (`<workspace images>/.tally.json`) holds the sums
(`disk_budget.Commitments`) and is read and written only under that lock
(`disk_quota.locked_images`), so server processes sharing the folders see each
other's disks. A disk the server makes adds itself once made. The tally is counted
again from a full listing:

- when it is older than `RECOUNT_SECONDS`, so images made or deleted by hand, or by
  a process that died between making a disk and adding it, count by then;
- when it is missing or unreadable, and after any disk is removed (`forget`), so a
  removal never leaves the sums short of an image that is still there;
- before a refusal: a disk is refused only by a count made just now, never by a
  stale one.

Its `allocated` bytes (what `SANDBOX_DISK_TOTAL=auto` adds to the free space) are as
of the last count: images that filled up since moved bytes from free to allocated,
so the total it gives is lower, never higher, than a fresh count's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.coordination.atomic_files import replace_atomically
from sandbox.disks.disk_budget import Commitments, budget_refusal, count_commitments, refuse
from sandbox.disks.quota_disks import QuotaDisk

logger = logging.getLogger(__name__)

RECOUNT_SECONDS = 60.0
"""How old a tally may be before a check counts every image again."""
TALLY_NAME = ".tally.json"


@dataclass(frozen=True)
class Tally:
    """The sums, and when they were last counted from a full listing (wall clock: processes share it)."""

    commitments: Commitments
    counted_at: float


def tally_path(settings: SandboxSettings) -> Path:
    """Where the tally lives: in the workspace images folder, root-only like the images, beside their lock."""
    return settings.disk_images_dir / TALLY_NAME


def read(settings: SandboxSettings) -> Tally | None:
    """The stored tally; None when there is none or it cannot be read as one."""
    try:
        data = json.loads(tally_path(settings).read_text(encoding="utf-8"))
        by_user = {str(user): int(size) for user, size in data["by_user"].items()}
        sums = Commitments(committed=int(data["committed"]), allocated=int(data["allocated"]), by_user=by_user)
        tally = Tally(sums, counted_at=float(data["counted_at"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return tally


def _write(settings: SandboxSettings, tally: Tally) -> None:
    """Store `tally` atomically: a reader sees the old sums or the new ones, never half of either."""
    record = {
        "committed": tally.commitments.committed,
        "allocated": tally.commitments.allocated,
        "by_user": tally.commitments.by_user,
        "counted_at": tally.counted_at,
    }
    replace_atomically(tally_path(settings), json.dumps(record).encode("utf-8"))


def recount(settings: SandboxSettings) -> Tally:
    """Count every image now and store the sums."""
    settings.disk_images_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    tally = Tally(count_commitments(settings), counted_at=time.time())
    _write(settings, tally)
    return tally


def _is_fresh(tally: Tally, now: float) -> bool:
    return tally.counted_at <= now and now - tally.counted_at < RECOUNT_SECONDS


def check_new_disk(settings: SandboxSettings, disk: QuotaDisk, user_id: str) -> Tally:
    """Raise `WorkspaceDiskError` if `disk` would pass `user_id`'s budget or the total; the caller holds the images lock.

    Returns the sums it decided by, for `add` once the disk is made.
    """
    stored = read(settings)
    if stored is None or not _is_fresh(stored, time.time()):
        stored = recount(settings)
        counted_now = True
    else:
        counted_now = False
    refusal = budget_refusal(settings, disk, user_id, stored.commitments)
    if refusal is not None and not counted_now:
        stored = recount(settings)
        refusal = budget_refusal(settings, disk, user_id, stored.commitments)
    if refusal is not None:
        refuse(refusal)
    return stored


def add(settings: SandboxSettings, stored: Tally, disk: QuotaDisk, user_id: str) -> None:
    """Add the image just made for `disk` (as `user_id`'s) to `stored`, the sums its check returned.

    The caller has held the images lock since that check, so `stored` is still the stored tally.
    A tally that cannot be written is dropped, so the disk is made either way: the next check
    counts everything, this image included.
    """
    sums = stored.commitments
    by_user = dict(sums.by_user)
    by_user[user_id] = by_user.get(user_id, 0) + disk.size
    try:
        allocated = disk.image.stat().st_blocks * 512
        grown = Commitments(committed=sums.committed + disk.size, allocated=sums.allocated + allocated, by_user=by_user)
        _write(settings, Tally(grown, counted_at=stored.counted_at))
    except OSError:
        logger.warning("Could not add the disk of %s to the budget sums; they are counted again next time", disk.what, exc_info=True)
        forget(settings)


def forget(settings: SandboxSettings) -> None:
    """Drop the tally (a disk was removed, or an image got its owner), so the next check counts every image again."""
    with contextlib.suppress(FileNotFoundError):
        tally_path(settings).unlink()
