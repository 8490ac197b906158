"""One thread's snapshot store: content-addressed blobs, one manifest per snapshot, and the head.

Layout of `<SANDBOX_WORKSPACES_DIR>.snapshots/<thread_id>/` (outside every
workspace, never mounted in a container, so the agent cannot plant anything here):

- `blobs/<2 hex>/<sha256>`: each file content once, whichever snapshots name it;
- `manifests/<id>.json`: one per snapshot (`sandbox.snapshots.manifest`), never changed;
- `HEAD`: the snapshot the workspace matched when a snapshot or restore last ran;
- `ROOT`: the workspace before the thread's first change, what checkpoints taken
  before any snapshot restore;
- `LAST`: the last sequence number handed out (ids sort by it, also after a rewind).

Callers hold the thread's snapshot lock (`sandbox.snapshots.thread_snapshots`)
around anything that moves `HEAD`. Writes go through a temporary name and a
rename, so a reader sees a whole file or none.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
from collections import OrderedDict
from pathlib import Path

from sandbox.coordination.atomic_files import replace_atomically
from sandbox.snapshots.manifest import Manifest, is_snapshot_id

_CACHED_MANIFESTS = 64
"""Manifests a `ManifestCache` keeps parsed; they never change once written, so the cache is never stale."""


class ManifestCache:
    """Parsed manifests by (store folder, id), shared by the stores of one `WorkspaceSnapshots`.

    Reading and parsing a thousand-file manifest costs more than a whole snapshot after
    a file tool; the head's manifest is read again at every snapshot, so it is kept.
    """

    def __init__(self, size: int = _CACHED_MANIFESTS) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str], Manifest] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Manifest | None:
        """The cached manifest, if any (and marks it recently used)."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], manifest: Manifest) -> None:
        """Keep `manifest`, dropping the least recently used beyond the size."""
        with self._lock:
            self._entries[key] = manifest
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


class SnapshotMissingError(LookupError):
    """A checkpoint names a snapshot its thread's store does not have: the workspace is left as it is."""


class SnapshotStore:
    """The files of one thread's snapshots in `folder` (see the module docstring)."""

    def __init__(self, folder: Path, cache: ManifestCache | None = None) -> None:
        self.folder = folder
        self.cache = cache if cache is not None else ManifestCache(1)

    def blob_path(self, sha: str) -> Path:
        """Where the content with this sha256 is stored."""
        return self.folder / "blobs" / sha[:2] / sha

    def has_blob(self, sha: str) -> bool:
        """Whether the content is stored already (then a snapshot that names it costs nothing more)."""
        return os.path.exists(self.blob_path(sha))

    def put_blob(self, sha: str, data: bytes) -> None:
        """Store `data` under its sha256, once."""
        path = self.blob_path(sha)
        if os.path.exists(path):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, data)

    def read_blob(self, sha: str) -> bytes:
        """The stored content (SnapshotMissingError when the store lost it)."""
        try:
            return self.blob_path(sha).read_bytes()
        except FileNotFoundError:
            msg = f"the snapshot store of this thread lost the content {sha[:12]}"
            raise SnapshotMissingError(msg) from None

    def _pointer(self, name: str) -> str | None:
        try:
            value = (self.folder / name).read_text(encoding="ascii").strip()
        except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
            return None
        return value if is_snapshot_id(value) else None

    def head(self) -> str | None:
        """The snapshot the workspace last matched; None before the thread's first snapshot."""
        return self._pointer("HEAD")

    def root(self) -> str | None:
        """The workspace as it was before the thread's first change."""
        return self._pointer("ROOT")

    def set_head(self, snapshot_id: str) -> None:
        """Record that the workspace now matches `snapshot_id`."""
        replace_atomically(self.folder / "HEAD", snapshot_id.encode("ascii"))

    def set_root(self, snapshot_id: str) -> None:
        """Record the snapshot that checkpoints from before any snapshot restore."""
        replace_atomically(self.folder / "ROOT", snapshot_id.encode("ascii"))

    def next_sequence(self) -> int:
        """A number larger than every one handed out before in this store."""
        try:
            last = int((self.folder / "LAST").read_text(encoding="ascii"))
        except (FileNotFoundError, ValueError):
            last = 0
        replace_atomically(self.folder / "LAST", str(last + 1).encode("ascii"))
        return last + 1

    def manifest_path(self, snapshot_id: str) -> Path:
        """Where a snapshot's manifest is (ids are checked first: they become file names)."""
        if not is_snapshot_id(snapshot_id):
            msg = f"{snapshot_id!r} is not a snapshot id"
            raise SnapshotMissingError(msg)
        return self.folder / "manifests" / f"{snapshot_id}.json"

    def has(self, snapshot_id: str) -> bool:
        """Whether the store holds that snapshot."""
        return is_snapshot_id(snapshot_id) and self.manifest_path(snapshot_id).is_file()

    def load(self, snapshot_id: str) -> Manifest:
        """A snapshot's manifest (shared and cached: `.copy()` it before changing it).

        The cache never answers for a manifest that is gone from the store, so a
        lost snapshot is an error in every process, not only in the others.
        """
        key = (str(self.folder), snapshot_id)
        if not os.path.exists(self.manifest_path(snapshot_id)):
            msg = f"the workspace snapshot {snapshot_id} is not in this thread's snapshot store"
            raise SnapshotMissingError(msg)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            manifest = Manifest.from_json(self.manifest_path(snapshot_id).read_bytes())
        except FileNotFoundError:
            msg = f"the workspace snapshot {snapshot_id} is not in this thread's snapshot store"
            raise SnapshotMissingError(msg) from None
        self.cache.put(key, manifest)
        return manifest

    def save(self, manifest: Manifest) -> str:
        """Store a new snapshot and return its id (the caller moves `HEAD`)."""
        snapshot_id = f"{self.next_sequence():010d}-{manifest.content_key()[:16]}"
        path = self.manifest_path(snapshot_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, manifest.to_json())
        self.cache.put((str(self.folder), snapshot_id), manifest)
        return snapshot_id

    def copy_into(self, other: SnapshotStore) -> None:
        """Give `other` every blob and manifest of this store, and the same head, root and sequence.

        Blobs are hard-linked where both stores share a filesystem (no quotas), and
        copied where each is its own disk image.
        """
        for sub in ("blobs", "manifests"):
            source = self.folder / sub
            if not source.is_dir():
                continue
            for folder, _dirs, names in os.walk(source):
                target_dir = other.folder / Path(folder).relative_to(self.folder)
                target_dir.mkdir(parents=True, exist_ok=True)
                for name in names:
                    if name.startswith("."):
                        continue
                    _link_or_copy(Path(folder) / name, target_dir / name)
        for pointer in ("HEAD", "ROOT", "LAST"):
            with contextlib.suppress(FileNotFoundError):
                replace_atomically(other.folder / pointer, (self.folder / pointer).read_bytes())


def _link_or_copy(source: Path, target: Path) -> None:
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copyfile(source, target, follow_symlinks=False)
