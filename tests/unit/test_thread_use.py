"""Session containers in use: a command anywhere blocks every stop; a crash never leaves one busy (real processes, no Docker)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from config.sandbox import SandboxSettings
from sandbox.coordination import thread_use
from tests.support.lock_holder import hold, kill

ENGINE = "engine-a"
RUNNING_IN_T1 = """\
from sandbox.coordination import thread_use
with thread_use.using(settings, "engine-a", "t-1", "the-other"):
    ready()
    time.sleep(120)
"""
"""Another process with a command running in thread t-1's container on engine-a."""


@pytest.fixture
def settings(tmp_path: Path) -> SandboxSettings:
    return SandboxSettings(workspaces_dir=tmp_path / "workspaces", shared_dir=tmp_path / "shared", memories_dir=tmp_path / "memories")


def _is_unused(settings: SandboxSettings, thread_id: str, engine: str = "engine-a") -> bool:
    with thread_use.unused(settings, engine, thread_id) as last:
        return last is not None


def test_a_command_in_another_process_blocks_stops_until_that_process_dies(settings: SandboxSettings, tmp_path: Path) -> None:
    holder, _ = hold(tmp_path, RUNNING_IN_T1)
    try:
        assert not _is_unused(settings, "t-1")
        assert _is_unused(settings, "t-2"), "another thread's container is not affected"
        assert _is_unused(settings, "t-1", engine="engine-b"), "nor the thread's container on another host's engine"
    finally:
        kill(holder)  # mid-command: it never records its use
    with thread_use.unused(settings, ENGINE, "t-1") as last:
        assert last is not None
        assert last.by == ""


def test_the_last_use_and_user_are_recorded_when_the_command_ends(settings: SandboxSettings) -> None:
    assert thread_use.last_used(settings, ENGINE, "t") is None
    before = time.time()
    with thread_use.using(settings, ENGINE, "t", "me-1"):
        assert not _is_unused(settings, "t"), "this process's own command blocks it too"
    with thread_use.unused(settings, ENGINE, "t") as last:
        assert last is not None
        assert last.by == "me-1"
        assert before - 1 <= last.at <= time.time() + 1
    assert thread_use.last_used(settings, ENGINE, "t") == last.at
    with thread_use.using(settings, ENGINE, "t", "me-22"):
        pass
    with thread_use.unused(settings, ENGINE, "t") as last:
        assert last is not None
        assert last.by == "me-22"
    with thread_use.using(settings, "engine-b", "t", "me-on-b"):
        pass
    thread_use.remove_use_files(settings, "t")  # a deleted thread: its use files on every engine's side go
    assert thread_use.last_used(settings, ENGINE, "t") is None
    assert thread_use.last_used(settings, "engine-b", "t") is None


def test_commands_of_one_process_share_the_use(settings: SandboxSettings) -> None:
    first_in, second_done, release_first = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with thread_use.using(settings, ENGINE, "t", "me"):
            first_in.set()
            release_first.wait(30)

    worker = threading.Thread(target=first)
    worker.start()
    assert first_in.wait(30)
    with thread_use.using(settings, ENGINE, "t", "me"):
        second_done.set()
    assert not _is_unused(settings, "t"), "the first command still runs"
    release_first.set()
    worker.join(30)
    assert _is_unused(settings, "t")


def test_a_command_waits_while_another_process_stops_the_container(settings: SandboxSettings, tmp_path: Path) -> None:
    script = """\
    from sandbox.coordination import thread_use
    with thread_use.unused(settings, "engine-a", "t") as last:
        assert last is not None
        ready()
        time.sleep(120)
    """
    holder, _ = hold(tmp_path, script)
    entered = threading.Event()

    def command() -> None:
        with thread_use.using(settings, ENGINE, "t", "me"):
            entered.set()

    worker = threading.Thread(target=command, daemon=True)
    try:
        worker.start()
        assert not entered.wait(1.5), "a command started while another process was stopping the container"
    finally:
        kill(holder)  # the stop is over (here: the stopping process died, which releases it too)
    assert entered.wait(30), "the command never started after the stop"
    worker.join(30)


def test_forgetting_a_thread_never_frees_a_use_file_a_command_holds(settings: SandboxSettings, tmp_path: Path) -> None:
    """A thread deleted while a command still runs in its container: the use file must stay held.

    Unlinking a held use file would let the next `unused` create a fresh file, lock it
    at once and stop the container under the running command.
    """
    holder, _ = hold(tmp_path, RUNNING_IN_T1)
    try:
        thread_use.remove_use_files(settings, "t-1")
        assert not _is_unused(settings, "t-1"), "a forgotten use file was unlinked under a running command"
    finally:
        kill(holder)
    thread_use.remove_use_files(settings, "t-1")  # nobody holds it now: it goes
    assert thread_use.last_used(settings, ENGINE, "t-1") is None
