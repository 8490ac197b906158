"""Make a workspace match a snapshot, touching only what differs.

`current` is a fresh scan of the workspace (`sandbox.snapshots.tree_scan`), so
the work is the difference between two manifests: with one file changed since
the snapshot, a restore writes one file. Everything happens from directory fds
with `O_NOFOLLOW`, as the file tools do: a symlink the agent planted where a
folder should be is removed and replaced, never followed, so a restore never
writes outside the workspace. Files are written under a temporary name and
renamed into place, each with its recorded mode, and (when the server runs as
root) handed to the sandbox user.

What a snapshot left out (excluded paths, files over the size limit) is not in
either manifest, so it is neither deleted nor overwritten; a folder that still
holds such files stays.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import uuid

from sandbox.files.fd_walk import CREATE_FLAGS, DIR_FLAGS, rmtree_at, write_all
from sandbox.snapshots.manifest import Manifest
from sandbox.snapshots.store import SnapshotStore


def _split(rel: str) -> tuple[str, str]:
    parent, _, name = rel.rpartition("/")
    return parent, name


class _Folders:
    """Open folder fds of the workspace by relative path, each reached from its parent without following links."""

    def __init__(self, root_fd: int, owner: tuple[int, int] | None) -> None:
        self.fds: dict[str, int] = {"": root_fd}
        self.owner = owner
        self._opened: list[int] = []

    def get(self, rel: str) -> int:
        """The fd of folder `rel`, creating it (and replacing a non-folder in its place) when needed."""
        if rel in self.fds:
            return self.fds[rel]
        parent, name = _split(rel)
        parent_fd = self.get(parent)
        for _ in range(3):
            try:
                fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
            except FileNotFoundError:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=parent_fd)
                    self.chown(parent_fd, name)
                continue
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                os.unlink(name, dir_fd=parent_fd)  # a file or symlink where the folder belongs
                continue
            self._opened.append(fd)
            self.fds[rel] = fd
            return fd
        msg = f"/workspace/{rel} kept changing while it was restored"
        raise OSError(errno.EAGAIN, msg)

    def existing(self, rel: str) -> int | None:
        """The fd of folder `rel` if it is a folder now; None otherwise (nothing is created)."""
        try:
            return self.fds[rel] if rel in self.fds else self._open_existing(rel)
        except OSError:
            return None

    def _open_existing(self, rel: str) -> int | None:
        parent, name = _split(rel)
        parent_fd = self.existing(parent)
        if parent_fd is None:
            return None
        fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
        self._opened.append(fd)
        self.fds[rel] = fd
        return fd

    def chown(self, dir_fd: int, name: str) -> None:
        """Hand a created entry to the sandbox user (only when the server runs as root)."""
        if self.owner is not None:
            os.chown(name, *self.owner, dir_fd=dir_fd, follow_symlinks=False)

    def forget(self, rel: str) -> None:
        """Drop the cached fds of `rel` and below (it was removed); they are closed with the rest."""
        for key in [k for k in self.fds if k == rel or k.startswith(rel + "/")]:
            del self.fds[key]

    def close(self) -> None:
        """Close every folder fd this restore opened."""
        for fd in self._opened:
            os.close(fd)


def _remove(dir_fd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            rmtree_at(dir_fd, name)
        else:
            os.unlink(name, dir_fd=dir_fd)


def _write_file(folders: _Folders, store: SnapshotStore, rel: str, sha: str, mode: int) -> None:
    parent, name = _split(rel)
    dir_fd = folders.get(parent)
    data = store.read_blob(sha)
    staging = f".snapshot-restore-{uuid.uuid4().hex}"
    fd = os.open(staging, CREATE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        try:
            write_all(fd, data)
            os.fchmod(fd, mode)
            if folders.owner is not None:
                os.fchown(fd, *folders.owner)
        finally:
            os.close(fd)
        try:
            os.rename(staging, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno not in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                raise
            _remove(dir_fd, name)  # a folder where the file belongs
            os.rename(staging, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(staging, dir_fd=dir_fd)
        raise


def _depth(rel: str) -> int:
    return rel.count("/")


def _remove_extra(folders: _Folders, current: Manifest, target: Manifest) -> int:
    """Remove what the target does not have, or has as another kind: files and links, then folders in the way."""
    changes = 0
    stale_links = [r for r, t in current.links.items() if target.links.get(r) != t]
    for rel in [r for r in current.files if r not in target.files] + stale_links:
        parent, name = _split(rel)
        parent_fd = folders.existing(parent)
        if parent_fd is not None:
            _remove(parent_fd, name)
            changes += 1
    for rel in sorted((r for r in current.dirs if r in target.files or r in target.links), key=_depth):
        parent, name = _split(rel)
        parent_fd = folders.existing(parent)
        if parent_fd is not None:
            _remove(parent_fd, name)
            changes += 1
        folders.forget(rel)
    return changes


def _write_missing(folders: _Folders, store: SnapshotStore, current: Manifest, target: Manifest) -> int:
    """Create the target's folders, and write its files and links that differ from what is there."""
    changes = 0
    for rel in sorted(target.dirs, key=_depth):
        folders.get(rel)
    for rel, entry in target.files.items():
        known = current.files.get(rel)
        if known is None or known[:2] != entry[:2]:
            _write_file(folders, store, rel, entry[0], entry[1])
            changes += 1
    for rel, link in target.links.items():
        if current.links.get(rel) == link:
            continue
        parent, name = _split(rel)
        dir_fd = folders.get(parent)
        _remove(dir_fd, name)
        os.symlink(link, name, dir_fd=dir_fd)
        folders.chown(dir_fd, name)
        changes += 1
    return changes


def _remove_folders(folders: _Folders, current: Manifest, target: Manifest) -> int:
    """Remove folders the target does not have, deepest first; one still holding left-out files stays."""
    changes = 0
    gone = (r for r in current.dirs if r not in target.dirs and r not in target.files and r not in target.links)
    for rel in sorted(gone, key=_depth, reverse=True):
        parent, name = _split(rel)
        folders.forget(rel)
        parent_fd = folders.existing(parent)
        if parent_fd is not None:
            with contextlib.suppress(OSError):  # gone already, or still holding left-out files
                os.rmdir(name, dir_fd=parent_fd)
                changes += 1
    return changes


def restore_tree(root_fd: int, store: SnapshotStore, current: Manifest, target: Manifest, owner: tuple[int, int] | None) -> int:
    """Change the workspace at `root_fd` from `current` to `target`; returns how many entries were written or removed."""
    folders = _Folders(root_fd, owner)
    try:
        changes = _remove_extra(folders, current, target)
        changes += _write_missing(folders, store, current, target)
        changes += _remove_folders(folders, current, target)
        for rel, mode in target.dirs.items():
            if current.dirs.get(rel) != mode:
                os.chmod(folders.get(rel), mode)
    finally:
        folders.close()
    return changes
