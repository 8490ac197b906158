"""Disk quotas: each `/workspace` (and each user's `/memories`) is its own loop-mounted ext4 image.

This kernel has no `CONFIG_QUOTA` and Docker's overlay2 has no `--storage-opt
size`, so a workspace is bounded the one way that holds against any command: it
is a filesystem of its own. `workspaces/<thread_id>/` is the mount point of a
sparse image `<workspaces>.disks/<thread_id>.img` (outside anything a sandbox can
see), created on first use with `mkfs.ext4` and owned by the sandbox user. A
write past the image's size fails with ENOSPC inside the sandbox and on the host.

A user's memory folder is bounded the same way (`SANDBOX_MEMORIES_QUOTA`), its
image in `<memories>.disks/`: both are a `QuotaDisk`, mounted by `mount_disk`.

What all images may add up to, in total and per user, is `sandbox.disks.disk_budget`.
Mounts are kernel state: they survive a server restart, and an image found unmounted
(after a reboot) is mounted again before anything touches its workspace. The
unmounted mount point is root-owned mode 000, so nothing can write around the
quota while it is not mounted.

Every step holds a lock (a thread lock and an `flock` on the images directory),
so two threads or two server processes never mount or remove one workspace twice.
A server that cannot mount (not root, no loop devices, no `mkfs.ext4`) logs why
once and keeps working with plain, unbounded workspace directories.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.coordination.locks import exclusive_file_lock
from sandbox.coordination.process_state import sandbox_process
from sandbox.disks import budget_tally
from sandbox.disks.disk_budget import (
    IMAGE_SUFFIX,
    disk_total,
    human_size,
    owner_path,
    user_budget,
    write_owner,
)
from sandbox.disks.mount_calls import MS_NOATIME, MS_NODEV, MS_NOSUID, loop_mount, unmount
from sandbox.disks.quota_disks import QuotaDisk, workspace_disk
from sandbox.disks.spare_images import new_spare_name, spares, take_spare
from sandbox.runs.errors import WorkspaceDiskError

logger = logging.getLogger(__name__)

MOUNT_FLAGS = MS_NOSUID | MS_NODEV | MS_NOATIME
"""Set-uid files and device nodes in a disk are inert; reads write no access times."""
_COMMAND_TIMEOUT = 120
_PROBE_BYTES = 4 * 1024**2


def _run(argv: list[str]) -> None:
    """Run a system tool; its stderr goes to the log and the exception, never to the agent."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        msg = f"{argv[0]} failed ({done.returncode}): {detail}"
        raise OSError(msg)


def _make_filesystem(image: Path, size: int, owner: tuple[int, int]) -> None:
    """A sparse file of `size` bytes holding an empty ext4 whose root belongs to `owner`.

    No root-reserved blocks (the sandbox user gets the whole quota) and a lazily
    initialised journal, so a new image allocates a few MiB, not its size.
    """
    with open(image, "xb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.truncate(size)
    uid, gid = owner
    _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", f"root_owner={uid}:{gid},nodiscard,lazy_itable_init=1,lazy_journal_init=1", str(image)])


def _mount(image: Path, mount_point: Path) -> None:
    loop_mount(image, mount_point, MOUNT_FLAGS)


def _unmount(mount_point: Path) -> None:
    """Unmount; if a host process still holds it open, detach it lazily instead of failing."""
    try:
        unmount(mount_point)
    except OSError:
        logger.warning("Workspace %s is busy; detaching it lazily", mount_point)
        unmount(mount_point, lazy=True)


def _probe(images_dir: Path) -> str | None:
    """Try the whole mechanism once on a tiny image; the reason it fails, or None."""
    if os.geteuid() != 0:
        return "the server does not run as root, so it cannot mount workspace images"
    if shutil.which("mkfs.ext4") is None:
        return "`mkfs.ext4` is missing (install e2fsprogs)"
    if not Path("/dev/loop-control").exists():  # `mount_calls` asks it for a free loop device
        return "no loop devices (/dev/loop-control is missing)"
    images_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    image = images_dir / f".probe-{os.getpid()}-{threading.get_ident()}"
    mount_point = image.with_name(image.name + ".mnt")
    try:
        image.unlink(missing_ok=True)
        mount_point.mkdir(mode=0o700, exist_ok=True)
        _make_filesystem(image, _PROBE_BYTES, (0, 0))
        _mount(image, mount_point)
        _unmount(mount_point)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"mounting a test image failed: {exc}"
    finally:
        image.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            mount_point.rmdir()
    return None


def quota_problem(settings: SandboxSettings) -> str | None:
    """Why workspaces cannot be bounded here (None when they are); probed once per images dir.

    The first call logs the outcome, so an operator sees at startup whether quotas hold.
    """
    if settings.disk_quota_bytes == 0:
        return "SANDBOX_DISK_QUOTA=0 turns workspace quotas off"
    images_dir = settings.disk_images_dir
    state = sandbox_process()
    with state.disk_probe_lock:
        if images_dir not in state.disk_probes:
            problem = _probe(images_dir)
            state.disk_probes[images_dir] = problem
            if problem is None:
                budget = user_budget(settings)
                logger.info(
                    "Workspace disk quotas on: %s per thread (SANDBOX_DISK_QUOTA), %s per user (SANDBOX_DISK_PER_USER), "
                    "at most %s in all (SANDBOX_DISK_TOTAL); images in %s",
                    human_size(settings.disk_quota_bytes),
                    "no limit" if budget is None else human_size(budget),
                    human_size(disk_total(settings)),
                    images_dir,
                )
            else:
                logger.warning(
                    "WORKSPACE DISK QUOTAS ARE OFF: %s. Workspaces work, but one thread can fill the host's disk. "
                    "Run the server as root on a host with loop devices and e2fsprogs to enforce SANDBOX_DISK_QUOTA.",
                    problem,
                )
        return state.disk_probes[images_dir]


def quotas_enforced(settings: SandboxSettings) -> bool:
    """True when each workspace is its own bounded filesystem."""
    return quota_problem(settings) is None


def locked_images(settings: SandboxSettings) -> contextlib.AbstractContextManager[None]:
    """The lock of all of `settings`' workspace images: held while one is created or removed (see `_locked`)."""
    return _locked(settings.disk_images_dir)


@contextlib.contextmanager
def _locked(images_dir: Path) -> Iterator[None]:
    """Exclusive across this process's threads and across server processes sharing the dir."""
    images_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with exclusive_file_lock(images_dir / ".lock"):
        yield


@contextlib.contextmanager
def locked_image(image: Path) -> Iterator[None]:
    """One image's own lock (its mount, unmount and removal), taken before the dir's (`_locked`), never after.

    Mounting an image that exists needs no other image's state, so a burst of new
    threads mounts its disks at once instead of one after another under `_locked`.
    """
    image.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with exclusive_file_lock(image.with_name(f".{image.name}.lock")):
        yield


def _prepare_mount_point(workspace: Path) -> None:
    """An unmounted mount point is root's and mode 000: nothing writes around the quota."""
    workspace.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(workspace, 0o000)
    os.chown(workspace, 0, 0, follow_symlinks=False)
    os.chmod(workspace, 0o000, follow_symlinks=False)


def _init_root(mounted: Path, owner: tuple[int, int]) -> None:
    """A fresh filesystem's root looks like a plain workspace dir: the sandbox user's, 0700, empty."""
    with contextlib.suppress(FileNotFoundError):
        (mounted / "lost+found").rmdir()
    os.chown(mounted, *owner)
    os.chmod(mounted, 0o700)


def _migrate(disk: QuotaDisk, owner: tuple[int, int]) -> None:
    """Move the files of a folder made before quotas were on into its new image."""
    image, workspace = disk.image, disk.mount_point
    staging = image.with_name(image.name + ".migrate")
    staging.mkdir(mode=0o700, exist_ok=True)
    _mount(image, staging)
    try:
        _init_root(staging, owner)
        try:
            _run(["cp", "-a", f"{workspace}/.", f"{staging}/"])
        except OSError as exc:
            msg = (
                f"{disk.what} holds more than its quota of {human_size(disk.size)} "
                f"({disk.setting}); it was left as it is and cannot be used until it is smaller or the quota is raised"
            )
            logger.warning("Migrating %s into a quota image failed: %s", workspace, exc)
            raise WorkspaceDiskError(msg) from exc
        for child in list(workspace.iterdir()):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        logger.info("Moved the existing workspace %s into its quota image", workspace)
    finally:
        _unmount(staging)
        staging.rmdir()


def mount_workspace(settings: SandboxSettings, thread_id: str, *, create: bool, user_id: str) -> Path:
    """Make sure `thread_id`'s workspace is its mounted image; return the workspace dir.

    `create=False` (reads) only mounts an image that already exists; `create=True`
    (writes, containers) also creates the image as `user_id`'s, refusing one past
    `SANDBOX_DISK_PER_USER` or `SANDBOX_DISK_TOTAL`. Callers check `quotas_enforced`
    first. The thread id must already be validated.
    """
    return mount_disk(settings, workspace_disk(settings, thread_id), create=create, user_id=user_id)


def mount_disk(settings: SandboxSettings, disk: QuotaDisk, *, create: bool, user_id: str) -> Path:
    """Make sure `disk.mount_point` is its mounted image, owned by `user_id` (see `mount_workspace`); return it.

    An image made before owners were recorded becomes the user's who uses it next
    (the server lets only a thread's owner use it).
    """
    workspace, image = disk.mount_point, disk.image
    if os.path.ismount(workspace) and owner_path(image).exists():
        return workspace
    if not create and not image.exists():
        return workspace
    owner = (settings.uid, settings.gid)
    with locked_image(image):
        if image.exists() and not owner_path(image).exists():
            with _locked(settings.disk_images_dir):
                write_owner(image, user_id)
                budget_tally.forget(settings)  # its size now counts for `user_id`
        if os.path.ismount(workspace):
            return workspace
        fresh = not image.exists()
        if fresh:
            if not create:
                return workspace
            with _locked(settings.disk_images_dir):  # one lock for all images: the total and budgets are checked across them
                counted = budget_tally.check_new_disk(settings, disk, user_id)
                try:
                    write_owner(image, user_id)  # `locked_image` made the images folder
                    if not take_spare(image.parent, disk.size, image):
                        _make_filesystem(image, disk.size, owner)
                except (OSError, subprocess.SubprocessError) as exc:
                    image.unlink(missing_ok=True)
                    owner_path(image).unlink(missing_ok=True)
                    logger.error("Could not create the disk image of %s: %s", disk.what, exc)
                    msg = f"could not create the disk of {disk.what}; the server log says why"
                    raise WorkspaceDiskError(msg) from exc
                budget_tally.add(settings, counted, disk, user_id)
        try:
            if fresh and workspace.is_dir() and not workspace.is_symlink() and any(workspace.iterdir()):
                try:
                    _migrate(disk, owner)
                except WorkspaceDiskError:
                    image.unlink()  # the old folder stays as it was; try again later
                    owner_path(image).unlink(missing_ok=True)
                    raise
                fresh = False
            _prepare_mount_point(workspace)
            _mount(image, workspace)
            if fresh:
                _init_root(workspace, owner)
        except (OSError, subprocess.SubprocessError) as exc:
            logger.error("Could not mount the disk image of %s: %s", disk.what, exc)
            msg = f"could not mount the disk of {disk.what}; the server log says why"
            raise WorkspaceDiskError(msg) from exc
    logger.info("Mounted the disk of %s (%s)", disk.what, human_size(image.stat().st_size))
    return workspace


def stock_spare(settings: SandboxSettings, disk: QuotaDisk, *, keep: int) -> bool:
    """Make one spare image for disks like `disk` unless `keep` are ready (`sandbox.disks.spare_images`); whether one was made."""
    images_dir = disk.image.parent
    if not disk.size or not quotas_enforced(settings) or len(spares(images_dir, disk.size)) >= keep:
        return False
    making, ready = new_spare_name(images_dir, disk.size)
    try:
        _make_filesystem(making, disk.size, (settings.uid, settings.gid))
        os.rename(making, ready)
    finally:
        making.unlink(missing_ok=True)
    return True


def remove_disk(settings: SandboxSettings, thread_id: str) -> bool:
    """Unmount `thread_id`'s image (if mounted) and delete it; False when it had none.

    The emptied mount point is left for the caller (`sandbox.containers.removal.remove_workspace`)
    to delete with the rest of the workspace folder.
    """
    return remove_quota_disk(settings, workspace_disk(settings, thread_id))


def remove_quota_disk(settings: SandboxSettings, disk: QuotaDisk) -> bool:
    """Unmount `disk`'s image (if mounted) and delete it; False when it had none. The mount point stays."""
    workspace, image = disk.mount_point, disk.image
    if not image.exists() and not os.path.ismount(workspace) and not owner_path(image).exists():
        return False
    with locked_image(image), _locked(settings.disk_images_dir):
        had_disk = image.exists() or os.path.ismount(workspace)
        staging = image.with_name(image.name + ".migrate")
        for mount_point in (staging, workspace):
            if os.path.ismount(mount_point):
                _unmount(mount_point)
        image.unlink(missing_ok=True)
        owner_path(image).unlink(missing_ok=True)
        budget_tally.forget(settings)  # counted again by the next new disk
        with contextlib.suppress(FileNotFoundError):
            staging.rmdir()
    logger.info("Removed the disk of %s", disk.what)
    return had_disk


def image_names(images_dir: Path) -> set[str]:
    """The names of the images in `images_dir` (thread ids, or memory folder names), mounted or not."""
    if not images_dir.is_dir():
        return set()
    names = (entry.name for entry in os.scandir(images_dir))
    return {name.removesuffix(IMAGE_SUFFIX) for name in names if name.endswith(IMAGE_SUFFIX) and not name.startswith(".")}


def thread_ids_with_disks(settings: SandboxSettings) -> set[str]:
    """Threads that have a workspace image (mounted or not): what a reconciler compares with live threads."""
    return image_names(settings.disk_images_dir)
