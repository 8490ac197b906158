"""A workspace's recorded owner: any user id round-trips, and another user's first use removes what was there."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from config.sandbox import SandboxSettings
from sandbox.disks.workspace import claim_workspace, prepare_workspace, remove_workspace
from sandbox.disks.workspace_owner import owners_dir, recorded_owner

user_ids = st.text(min_size=1, max_size=40)


def _settings(root: Path) -> SandboxSettings:
    folders = {"workspaces_dir": root / "workspaces", "shared_dir": root / "shared", "memories_dir": root / "memories"}
    return SandboxSettings(**folders, disk_quota_bytes=0)


@settings(max_examples=60, deadline=None)
@given(user_ids, user_ids)
def test_the_first_user_owns_the_workspace_and_another_user_finds_it_empty(first: str, second: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = _settings(Path(tmp))
        thread_id = str(uuid.uuid4())
        workspace = prepare_workspace(config, thread_id, create=True, user_id=first)
        (workspace / "left.txt").write_text("first's")
        assert recorded_owner(config, thread_id) == first
        # The owner's own later uses keep everything.
        prepare_workspace(config, thread_id, create=False, user_id=first)
        assert (workspace / "left.txt").exists()

        prepare_workspace(config, thread_id, create=False, user_id=second)
        if second == first:
            assert (workspace / "left.txt").exists()
        else:
            assert not (workspace / "left.txt").exists(), "another user reached the previous owner's file"
        assert recorded_owner(config, thread_id) == (first if second == first else None)

        claim_workspace(config, thread_id, second, create=True)
        assert recorded_owner(config, thread_id) == second
        remove_workspace(config, thread_id)
        assert recorded_owner(config, thread_id) is None
        assert list(owners_dir(config).iterdir()) == []
