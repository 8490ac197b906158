"""Each thread's workspace snapshots: record after a change, restore for a checkpoint, copy, remove.

A thread's store lives in `<SANDBOX_WORKSPACES_DIR>.snapshots/<thread_id>/`, beside
the workspace and outside it; with disk quotas on it is its own ext4 image of
`SANDBOX_SNAPSHOT_QUOTA` (`<...>.snapshots.disks/`), owned by the thread's user,
so it counts towards their `SANDBOX_DISK_PER_USER` like the workspace does.
`remove_workspace` removes it with the rest of the thread.

Every operation on one thread holds its snapshot lock (a thread lock and an
`flock`, so parallel tool calls and several server processes take turns), and
is blocking file work: callers on the event loop run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from config.sandbox import SandboxSettings
from sandbox.coordination.locks import digest, exclusive_file_lock, lock_subdir
from sandbox.disks.disk_quota import quotas_enforced
from sandbox.disks.quota_disks import snapshots_disk
from sandbox.disks.thread_ids import storage_name
from sandbox.disks.workspace import prepare_quota_folder, prepare_workspace, remove_quota_folder, validate_thread_id
from sandbox.disks.workspace_owner import recorded_owner
from sandbox.files.fd_walk import DIR_FLAGS
from sandbox.snapshots.changes import Limits, compute_changes
from sandbox.snapshots.manifest import Exclusions, Manifest
from sandbox.snapshots.restore import restore_tree
from sandbox.snapshots.store import ManifestCache, SnapshotMissingError, SnapshotStore
from sandbox.snapshots.tree_scan import TreeReader, scan_path, scan_tree

logger = logging.getLogger(__name__)

WORKSPACE_PREFIX = "/workspace"


def workspace_relative(path: str) -> str | None:
    """`/workspace/a/b` -> `a/b`; None for a path outside `/workspace` (a file tool's change there is no workspace change)."""
    if path == WORKSPACE_PREFIX or path == WORKSPACE_PREFIX + "/":
        return ""
    if not path.startswith(WORKSPACE_PREFIX + "/"):
        return None
    parts = [part for part in path[len(WORKSPACE_PREFIX) + 1 :].split("/") if part not in ("", ".")]
    return None if ".." in parts else "/".join(parts)


def remove_snapshots(settings: SandboxSettings, thread_id: str) -> bool:
    """Delete a thread's snapshot store (its image too); False when there was none."""
    return remove_quota_folder(settings, snapshots_disk(settings, storage_name(thread_id)))


class WorkspaceSnapshots:
    """Snapshots of every thread of one deployment (see the module docstring)."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.exclusions = Exclusions(settings.snapshot_exclude, settings.snapshot_max_file_bytes)
        self._manifests = ManifestCache()

    # -- plumbing ---------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, thread_id: str) -> Iterator[None]:
        with exclusive_file_lock(lock_subdir(self.settings, "snapshots") / f"{digest(thread_id)[:32]}.lock"):
            yield

    def _store(self, user_id: str, thread_id: str, *, create: bool) -> SnapshotStore | None:
        disk = snapshots_disk(self.settings, validate_thread_id(thread_id))
        if not create and not disk.mount_point.exists() and not (quotas_enforced(self.settings) and disk.image.exists()):
            return None
        folder = prepare_quota_folder(self.settings, disk, create=create, user_id=user_id)
        return SnapshotStore(folder, self._manifests) if folder.is_dir() else None

    @contextlib.contextmanager
    def _workspace_fd(self, user_id: str, thread_id: str, *, create: bool) -> Iterator[int | None]:
        workspace = prepare_workspace(self.settings, thread_id, create=create, user_id=user_id)
        try:
            fd = os.open(workspace, DIR_FLAGS)
        except FileNotFoundError:
            yield None
            return
        try:
            yield fd
        finally:
            os.close(fd)

    def _owner(self) -> tuple[int, int] | None:
        return (self.settings.uid, self.settings.gid) if os.geteuid() == 0 else None

    def _scan(self, store: SnapshotStore, root_fd: int | None, previous: Manifest | None) -> Manifest:
        return Manifest() if root_fd is None else scan_tree(root_fd, TreeReader(store, previous, self.exclusions))

    def _commit(self, store: SnapshotStore, manifest: Manifest, head: str | None) -> str:
        """Save `manifest` as the new head, unless it holds exactly what the head holds (then the head stays)."""
        if head is not None and store.load(head).content_key() == manifest.content_key():
            return head
        snapshot_id = store.save(manifest)
        store.set_head(snapshot_id)
        return snapshot_id

    # -- what the agent's middleware calls --------------------------------------

    def head(self, user_id: str, thread_id: str) -> str | None:
        """The snapshot the workspace last matched (None before the thread's first snapshot)."""
        store = self._store(user_id, thread_id, create=False)
        return None if store is None else store.head()

    def root(self, user_id: str, thread_id: str) -> str | None:
        """The workspace before the thread's first change (None before it)."""
        store = self._store(user_id, thread_id, create=False)
        return None if store is None else store.root()

    def ensure_root(self, user_id: str, thread_id: str) -> str:
        """Before the thread's first change: snapshot the workspace as it is, as what earlier checkpoints restore."""
        known = self.root(user_id, thread_id)
        if known is not None:
            return known
        with self._locked(thread_id):
            store = self._store(user_id, thread_id, create=True)
            assert store is not None
            root = store.root()
            if root is not None:
                return root
            with self._workspace_fd(user_id, thread_id, create=False) as root_fd:
                root = self._commit(store, self._scan(store, root_fd, None), store.head())
            store.set_root(root)
            return root

    def record(self, user_id: str, thread_id: str, changed: str | None = None) -> str:
        """Snapshot the workspace after a change and return the new head (`ensure_root` comes before the change).

        `changed` is the one container path a file tool changed: only it is read
        again. Without it (after `execute`, or when the path lies behind a
        symlink) every file's stat decides what is read again.
        """
        with self._locked(thread_id):
            store = self._store(user_id, thread_id, create=True)
            assert store is not None
            head = store.head()
            previous = store.load(head) if head is not None else None
            with self._workspace_fd(user_id, thread_id, create=False) as root_fd:
                rel = workspace_relative(changed) if changed is not None else None
                manifest = None
                if rel and previous is not None and root_fd is not None:
                    manifest = scan_path(root_fd, TreeReader(store, previous, self.exclusions), previous, rel)
                if manifest is None:
                    manifest = self._scan(store, root_fd, previous)
            return self._commit(store, manifest, head)

    def restore(self, user_id: str, thread_id: str, wanted: str | None) -> str | None:
        """Make the workspace match snapshot `wanted` (None: the root), unless it is the head already.

        Returns the snapshot restored, or None when nothing had to change. Raises
        `SnapshotMissingError` (the workspace untouched) when the store does not have it.
        """
        with self._locked(thread_id):
            store = self._store(user_id, thread_id, create=False)
            if store is None:
                if wanted is None:
                    return None  # no snapshot was ever taken: nothing to go back to
                msg = f"the workspace snapshot {wanted} is missing: this thread has no snapshot store"
                raise SnapshotMissingError(msg)
            target_id = wanted if wanted is not None else store.root()
            head = store.head()
            if target_id is None or target_id == head:
                return None
            target = store.load(target_id)
            for entry in target.files.values():
                if not store.has_blob(entry[0]):
                    msg = f"the workspace snapshot {target_id} is damaged: some of its contents are missing"
                    raise SnapshotMissingError(msg)
            with self._workspace_fd(user_id, thread_id, create=True) as root_fd:
                assert root_fd is not None
                current = self._scan(store, root_fd, store.load(head) if head is not None and store.has(head) else None)
                changes = restore_tree(root_fd, store, current, target, self._owner())
            store.set_head(target_id)
            logger.info("Restored the workspace of thread %s to snapshot %s (%d changes)", thread_id, target_id, changes)
            return target_id

    # -- what the server calls ----------------------------------------------------

    def changes(self, user_id: str, thread_id: str, before: str | None, after: str | None, limits: Limits | None = None) -> dict[str, Any]:
        """The files changed from snapshot `before` to `after` (None: the root, the workspace before the first change).

        Reads only the store (manifests never change once written), so it takes no lock.
        Raises `SnapshotMissingError` for a snapshot the store does not have.
        """
        store = self._store(user_id, thread_id, create=False)
        if store is None and (before is not None or after is not None):
            msg = "this thread has no snapshot store"
            raise SnapshotMissingError(msg)
        if store is None:
            return {"files": [], "total": 0, "truncated": False}  # no change was ever recorded
        root = store.root()
        sides = [
            store.load(wanted) if wanted is not None else store.load(root) if root is not None else Manifest() for wanted in (before, after)
        ]
        return compute_changes(store, sides[0], sides[1], limits)

    def copy_thread(self, source: str, target: str, user_id: str) -> bool:
        """Give thread `target` (new, `user_id`'s) `source`'s workspace and snapshots; False when `source` has neither.

        The copy's files are the source's files as they are now (what a run at the
        copy's head must find), its store the source's store, head included, so a
        run of the copy from any checkpoint restores that checkpoint's files there.
        """
        owner = recorded_owner(self.settings, source) or user_id  # the source's files stay its owner's
        with self._locked(source):
            source_store = self._store(owner, source, create=False)
            with self._workspace_fd(owner, source, create=False) as source_fd:
                if source_store is None and source_fd is None:
                    return False
                scratch = source_store
                if scratch is None:
                    scratch = self._store(owner, source, create=True)
                    assert scratch is not None
                head = scratch.head()
                now = self._scan(scratch, source_fd, scratch.load(head) if head is not None and scratch.has(head) else None)
            with self._locked(target):
                target_store = self._store(user_id, target, create=True)
                assert target_store is not None
                scratch.copy_into(target_store)
                with self._workspace_fd(user_id, target, create=True) as target_fd:
                    assert target_fd is not None
                    current = self._scan(target_store, target_fd, None)
                    restore_tree(target_fd, target_store, current, now, self._owner())
        return True
