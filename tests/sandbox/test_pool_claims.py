"""Pool claims and mount points on the host (no Docker): what a pooled container is bound to, and whose it is.

A pooled container sees whatever the host binds on its slot's mount points, so
these check the binds themselves: after `attach`, each point shows the folder it
was given, never a folder that was there before. The server runs as root (it
mounts), and so do these tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import SandboxSettings
from sandbox.containers.pool_claims import Claim, attach, claim, claimed_slots, forget_claim, mount_point, pool_dir, read_claim, release
from tests.support.workspaces import mounts_under

SLOT = "0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[SandboxSettings]:
    settings = SandboxSettings(workspaces_dir=tmp_path / "workspaces")
    yield settings
    release(settings, SLOT)
    assert mounts_under(pool_dir(settings)) == []


def _folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "whose").write_text(name, encoding="utf-8")
    return folder


def test_attaching_binds_the_given_folder_over_one_bound_there_before(settings: SandboxSettings, tmp_path: Path) -> None:
    point = mount_point(settings, SLOT, "workspace")
    attach(settings, SLOT, {"workspace": _folder(tmp_path, "before")})
    assert (point / "whose").read_text(encoding="utf-8") == "before"

    attach(settings, SLOT, {"workspace": _folder(tmp_path, "given")})

    assert (point / "whose").read_text(encoding="utf-8") == "given"


def test_attaching_a_folder_the_point_shows_already_binds_nothing_more(settings: SandboxSettings, tmp_path: Path) -> None:
    given = _folder(tmp_path, "given")
    attach(settings, SLOT, {"workspace": given})
    bound = mounts_under(pool_dir(settings))

    attach(settings, SLOT, {"workspace": given})

    assert mounts_under(pool_dir(settings)) == bound == [str(mount_point(settings, SLOT, "workspace"))]


def test_a_forgotten_claim_is_nobodys_though_it_was_read_before(settings: SandboxSettings) -> None:
    assert claim(settings, SLOT, "thread-1", "alice")
    assert read_claim(settings, SLOT) == Claim("thread-1", "alice")

    forget_claim(settings, SLOT)

    assert read_claim(settings, SLOT) is None
    assert claim(settings, SLOT, "thread-2", "bob")
    assert read_claim(settings, SLOT) == Claim("thread-2", "bob")


def test_a_claim_another_process_removed_is_nobodys_though_this_one_read_it_before(settings: SandboxSettings) -> None:
    assert claim(settings, SLOT, "thread-1", "alice")
    assert read_claim(settings, SLOT) == Claim("thread-1", "alice")

    (pool_dir(settings) / "claims" / SLOT).unlink()  # what `forget_claim` does in the process that removed the container

    assert read_claim(settings, SLOT) is None


def test_finding_a_threads_claims_reads_no_file_of_the_claims_it_knows(settings: SandboxSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new thread's first command looks for its claims among every pooled container's (hundreds on a busy server).

    Claims never change while they exist, so once read, listing the folder is all it takes.
    """
    for n in range(200):
        assert claim(settings, f"slot{n:04d}", f"thread-{n}", "user")
    assert claimed_slots(settings, "thread-7") == ["slot0007"]
    stats: list[object] = []
    real_stat = os.stat

    def counting_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        stats.append(path)
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", counting_stat)
    assert claimed_slots(settings, "thread-9") == ["slot0009"]
    assert claimed_slots(settings, "nobody") == []
    assert len(stats) <= 4, stats[:10]
    monkeypatch.undo()
    forget_claim(settings, "slot0009")
    assert claimed_slots(settings, "thread-9") == []
    for n in range(200):
        forget_claim(settings, f"slot{n:04d}")
