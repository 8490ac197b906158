"""Read a workspace into a manifest: a stat walk that re-hashes only what changed.

The agent may be changing the tree while we read it, and it may have planted
symlinks anywhere. So, as in `sandbox.files.fd_walk`, every folder is opened
from its parent's fd with `O_DIRECTORY|O_NOFOLLOW`, a symlink is recorded as a
link (its target text) and never followed, and a file is opened only after its
`O_PATH` fd says it is a regular file (a FIFO or device is never opened).

`scan_tree` walks everything (after `execute`, whose changes are unknown);
`scan_path` re-reads one path (after a file tool, which names the only path it
changed) and says when it cannot (a symlinked folder on the way).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator

from sandbox.files.fd_walk import DIR_FLAGS, open_regular_at, read_capped
from sandbox.snapshots.manifest import Exclusions, FileEntry, Manifest
from sandbox.snapshots.store import SnapshotStore


class TreeReader:
    """Reads files into a store; `previous` supplies hashes for files whose stat fields did not change."""

    def __init__(self, store: SnapshotStore, previous: Manifest | None, exclusions: Exclusions) -> None:
        self.store = store
        self.previous = previous
        self.exclusions = exclusions

    def file_entry(self, dir_fd: int, name: str, rel: str, st: os.stat_result) -> FileEntry | None:
        """The entry of one regular file (hashed and stored if new); None when it is left out or vanished."""
        if st.st_size > self.exclusions.max_file_bytes:
            return None
        known = self.previous.files.get(rel) if self.previous is not None else None
        if known is not None and known[2:] == (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino):
            return known
        try:
            fd = open_regular_at(dir_fd, name, os.O_RDONLY)
        except OSError:
            return None  # gone or swapped meanwhile: the next snapshot sees what is there then
        try:
            opened = os.fstat(fd)
            data = read_capped(fd, self.exclusions.max_file_bytes)
        finally:
            os.close(fd)
        if data is None:
            return None
        sha = hashlib.sha256(data).hexdigest()
        self.store.put_blob(sha, data)
        return (sha, stat.S_IMODE(opened.st_mode) & 0o777, len(data), opened.st_mtime_ns, opened.st_ctime_ns, opened.st_ino)

    def add_entry(self, manifest: Manifest, dir_fd: int, name: str, rel: str, st: os.stat_result) -> bool:
        """Record one entry of any kind; True when it is a folder the caller should walk into."""
        if self.exclusions.excluded(rel):
            return False
        if stat.S_ISDIR(st.st_mode):
            manifest.dirs[rel] = stat.S_IMODE(st.st_mode)
            return True
        if stat.S_ISLNK(st.st_mode):
            with contextlib.suppress(OSError):
                manifest.links[rel] = os.readlink(name, dir_fd=dir_fd)
        elif stat.S_ISREG(st.st_mode):
            entry = self.file_entry(dir_fd, name, rel, st)
            if entry is not None:
                manifest.files[rel] = entry
        return False  # sockets, FIFOs and devices are not workspace content

    def walk_into(self, manifest: Manifest, parent_fd: int, name: str, prefix: str) -> None:
        """Record everything below the folder `name` of `parent_fd` (`prefix` is its path plus `/`, or "")."""
        stack: list[tuple[int, str, Iterator[os.DirEntry[str]]]] = []
        try:
            self._enter(stack, parent_fd, name, prefix)
            while stack:
                fd, here, entries = stack[-1]
                entry = next(entries, None)
                if entry is None:
                    os.close(stack.pop()[0])
                    continue
                rel = here + entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if self.add_entry(manifest, fd, entry.name, rel, st):
                    self._enter(stack, fd, entry.name, rel + "/")
        finally:
            for fd, _, _ in stack:
                os.close(fd)

    @staticmethod
    def _enter(stack: list[tuple[int, str, Iterator[os.DirEntry[str]]]], parent_fd: int, name: str, prefix: str) -> None:
        try:
            fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
        except OSError:
            return  # vanished, or swapped for a symlink: not entered
        try:
            with os.scandir(fd) as it:
                entries = list(it)
        except OSError:
            os.close(fd)
            return
        stack.append((fd, prefix, iter(entries)))


def scan_tree(root_fd: int, reader: TreeReader) -> Manifest:
    """The whole workspace below `root_fd` (an open folder), read the race-free way."""
    manifest = Manifest()
    reader.walk_into(manifest, root_fd, ".", "")
    return manifest


def scan_path(root_fd: int, reader: TreeReader, base: Manifest, rel: str) -> Manifest | None:
    """`base` with `rel` (and whatever is below it) read again; None when `rel` lies behind a symlink.

    A file tool follows symlinks inside `/workspace`, so its change may have landed
    elsewhere: the caller then scans the whole tree instead.
    """
    parts = [part for part in rel.split("/") if part]
    manifest = base.copy()
    manifest.drop("/".join(parts))
    fds: list[int] = []
    try:
        dir_fd = root_fd
        for depth, part in enumerate(parts):
            path = "/".join(parts[: depth + 1])
            if reader.exclusions.excluded(path):
                return manifest  # snapshots leave it out
            try:
                st = os.stat(part, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return manifest  # deleted (or never made): dropping it was the whole change
            last = depth == len(parts) - 1
            if not last:
                if not stat.S_ISDIR(st.st_mode):
                    return None
                manifest.dirs[path] = stat.S_IMODE(st.st_mode)
                fd = os.open(part, DIR_FLAGS, dir_fd=dir_fd)
                fds.append(fd)
                dir_fd = fd
                continue
            if stat.S_ISLNK(st.st_mode):
                return None  # the tool wrote through the link: the change is wherever it points
            if reader.add_entry(manifest, dir_fd, part, path, st):
                reader.walk_into(manifest, dir_fd, part, path + "/")
        return manifest
    except OSError:
        return None
    finally:
        for fd in fds:
            os.close(fd)
