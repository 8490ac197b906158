"""A thread's own start lock: one holder at a time across threads, and its file goes with the thread (no Docker)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from config.sandbox import SandboxSettings
from sandbox.containers.start_lock import remove_thread_start_lock, thread_start_lock
from sandbox.coordination.locks import lock_subdir


@pytest.fixture
def settings(tmp_path: Path) -> SandboxSettings:
    return SandboxSettings(workspaces_dir=tmp_path / "workspaces", shared_dir=tmp_path / "shared", memories_dir=tmp_path / "memories")


def _lock_files(settings: SandboxSettings) -> list[Path]:
    return sorted(lock_subdir(settings, "thread-starts").iterdir())


def test_a_second_first_command_of_the_thread_waits_for_the_first(settings: SandboxSettings) -> None:
    entered = threading.Event()

    def second() -> None:
        with thread_start_lock(settings, "t-1"):
            entered.set()

    with thread_start_lock(settings, "t-1"):
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not entered.wait(0.5)
        with thread_start_lock(settings, "t-2"):  # another thread's first command does not wait
            pass
    assert entered.wait(10)
    waiter.join(10)


def test_removing_a_thread_deletes_its_lock_file_unless_a_first_command_holds_it(settings: SandboxSettings) -> None:
    with thread_start_lock(settings, "t-1"):
        remove_thread_start_lock(settings, "t-1")
        assert len(_lock_files(settings)) == 1
    with thread_start_lock(settings, "t-2"):
        pass
    remove_thread_start_lock(settings, "t-1")
    remove_thread_start_lock(settings, "t-2")
    assert _lock_files(settings) == []
