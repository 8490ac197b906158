"""The budgets' running sums (real loop-mounted images): a new disk's check reads them instead of every image.

What the tally may never do is let a disk past a budget that a full count would
refuse (because a removal or a disk made elsewhere was missed), or refuse one that
a full count would allow. The `settings` fixture removes every workspace after each test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import SandboxSettings
from sandbox.disks import budget_tally, disk_budget
from sandbox.disks.disk_quota import remove_disk
from sandbox.disks.mount_calls import unmount
from sandbox.disks.quota_disks import image_path
from sandbox.disks.workspace import prepare_workspace
from sandbox.runs.errors import WorkspaceDiskError
from tests.support.sandbox_settings import TEST_DISK_QUOTA

MiB = 1024**2
pytestmark = pytest.mark.usefixtures("quotas_enforced")


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every folder of images listed (each listing stats every image in it)."""
    seen: list[Path] = []
    real = disk_budget._images

    def counted(images_dir: Path) -> disk_budget.ImageList:
        seen.append(images_dir)
        return real(images_dir)

    monkeypatch.setattr(disk_budget, "_images", counted)
    return seen


def _budgeted(settings: SandboxSettings, threads: int) -> SandboxSettings:
    """Room for `threads` workspaces of one user and a little more (only workspaces have disks here)."""
    return settings.with_overrides(
        artifacts_quota_bytes=0, snapshot_quota_bytes=0, memories_quota_bytes=0, disk_per_user_bytes=threads * TEST_DISK_QUOTA + MiB
    )


def test_new_disks_do_not_list_every_image_while_the_tally_is_fresh(settings: SandboxSettings, listings: list[Path]) -> None:
    for i in range(3):
        prepare_workspace(settings, f"old-{i}", user_id="alice")
    listings.clear()
    prepare_workspace(settings, "new-1", user_id="alice")
    prepare_workspace(settings, "new-2", user_id="bob")
    assert listings == [], "a new disk's budget check listed the images again"
    tally = budget_tally.read(settings)
    assert tally is not None
    assert tally.commitments.by_user == {"alice": 4 * TEST_DISK_QUOTA, "bob": TEST_DISK_QUOTA}
    assert tally.commitments.committed == 5 * TEST_DISK_QUOTA


def test_the_budget_holds_with_the_tally(settings: SandboxSettings) -> None:
    budget = _budgeted(settings, 2)
    prepare_workspace(budget, "one", user_id="carol")
    prepare_workspace(budget, "two", user_id="carol")
    with pytest.raises(WorkspaceDiskError, match="SANDBOX_DISK_PER_USER"):
        prepare_workspace(budget, "three", user_id="carol")
    assert not image_path(budget, "three").exists()
    prepare_workspace(budget, "theirs", user_id="dave")


def test_a_removed_disk_frees_its_share_at_once(settings: SandboxSettings) -> None:
    budget = _budgeted(settings, 1)
    prepare_workspace(budget, "first", user_id="erin")
    remove_disk(budget, "first")
    prepare_workspace(budget, "second", user_id="erin")


def test_an_image_deleted_by_hand_does_not_cause_a_refusal(settings: SandboxSettings) -> None:
    """The tally still counts it; a refusal is only ever made from a count made just now."""
    budget = _budgeted(settings, 1)
    prepare_workspace(budget, "gone", user_id="frank")
    unmount(budget.workspaces_dir / "gone")
    image_path(budget, "gone").unlink()
    prepare_workspace(budget, "next", user_id="frank")


def test_an_image_made_elsewhere_counts_once_the_tally_is_old(settings: SandboxSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """An image made by hand (or by a process that died before adding it) is counted at the next recount."""
    budget = _budgeted(settings, 2)
    prepare_workspace(budget, "mine", user_id="grace")
    prepare_workspace(budget, "missed", user_id="grace")
    # As if the process that made "missed" had died before adding it: the tally knows only "mine".
    stale = {**json.loads(budget_tally.tally_path(budget).read_text()), "committed": TEST_DISK_QUOTA}
    stale["by_user"] = {"grace": TEST_DISK_QUOTA}
    budget_tally.tally_path(budget).write_text(json.dumps(stale))
    monkeypatch.setattr(budget_tally, "RECOUNT_SECONDS", 0.0)
    with pytest.raises(WorkspaceDiskError, match="SANDBOX_DISK_PER_USER"):
        prepare_workspace(budget, "one-too-many", user_id="grace")


def test_a_damaged_tally_is_counted_again(settings: SandboxSettings) -> None:
    budget = _budgeted(settings, 1)
    prepare_workspace(budget, "only", user_id="heidi")
    budget_tally.tally_path(budget).write_text("{not json")
    with pytest.raises(WorkspaceDiskError, match="SANDBOX_DISK_PER_USER"):
        prepare_workspace(budget, "extra", user_id="heidi")
    tally = budget_tally.read(budget)
    assert tally is not None
    assert tally.commitments.by_user == {"heidi": TEST_DISK_QUOTA}


def test_a_tally_that_cannot_be_written_does_not_fail_the_disk(settings: SandboxSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare_workspace(settings, "counted", user_id="ivan")
    assert budget_tally.read(settings) is not None

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(budget_tally, "_write", full)
    assert prepare_workspace(settings, "made-anyway", user_id="ivan").is_mount()
    assert budget_tally.read(settings) is None, "the stale sums were dropped, to be counted again"
