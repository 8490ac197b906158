"""Which user a workspace belongs to, recorded beside it, so a reused thread id never hands it to another.

A thread id is unique only while its thread exists: once it is deleted, pruned or
expired, anyone may create a thread with the same id. The server removes a gone
thread's sandboxes (`server.thread_removal`, the reconciler), but if anything is
still there under the id when another user's first call arrives (a removal that
failed, a server that was down), that user must never see it. So the first user
to prepare a workspace is recorded as its owner in `<workspaces>.owners/<thread_id>`
(outside anything a sandbox can see or write), and `sandbox.disks.workspace` removes a
workspace recorded for someone else before its new owner's first use.

A workspace from before owners were recorded has no record: its next user is
recorded as its owner (the server's removal on delete and prune, and the
reconciler, are what keep such a workspace from outliving its thread).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.coordination.atomic_files import replace_atomically
from sandbox.disks.thread_ids import storage_name

OWNERS_SUFFIX = ".owners"


def owners_dir(settings: SandboxSettings) -> Path:
    """`<workspaces>.owners/`: beside the workspaces folder, like the disk images, so no sandbox mounts it."""
    return settings.workspaces_dir.with_name(settings.workspaces_dir.name + OWNERS_SUFFIX)


def _record(settings: SandboxSettings, thread_id: str) -> Path:
    return owners_dir(settings) / storage_name(thread_id)


def recorded_owner(settings: SandboxSettings, thread_id: str) -> str | None:
    """The user recorded as the workspace's owner, or None when there is no record."""
    try:
        return _record(settings, thread_id).read_bytes().decode("utf-8", "surrogatepass")
    except FileNotFoundError:
        return None


def record_owner(settings: SandboxSettings, thread_id: str, user_id: str) -> None:
    """Record `user_id` as the owner (written whole: a reader sees the old record or the new one)."""
    record = _record(settings, thread_id)
    record.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    replace_atomically(record, user_id.encode("utf-8", "surrogatepass"))  # bytes: no newline translation, ids are exact


def remove_owner(settings: SandboxSettings, thread_id: str) -> None:
    """Drop the record with the workspace it describes."""
    with contextlib.suppress(FileNotFoundError):
        _record(settings, thread_id).unlink()
