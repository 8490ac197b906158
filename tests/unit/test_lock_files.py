"""Lock files that may be unlinked while someone waits for them (no Docker)."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from sandbox.coordination.locks import exclusive_file_lock, lock_named
from sandbox.coordination.process_state import sandbox_process


def test_an_exclusive_lock_taken_on_a_file_unlinked_meanwhile_is_taken_again_on_the_named_one(tmp_path: Path) -> None:
    """A waiter whose file is unlinked (a removed thread's lock file) must hold the file the path names once it gets in.

    Else it holds a lock nobody else can see, and the next caller creates a new file and takes it at once, beside it.
    """
    path = tmp_path / "thread.lock"
    holder = lock_named(path, fcntl.LOCK_EX)
    assert holder is not None
    inside, leave = threading.Event(), threading.Event()

    def wait_then_hold() -> None:
        with exclusive_file_lock(path):
            inside.set()
            leave.wait(10)

    waiter = threading.Thread(target=wait_then_hold)
    waiter.start()
    try:
        assert not inside.wait(0.3)  # it waits on the file `holder` holds
        path.unlink()  # what `unlink_unheld` does while holding it
        os.close(holder)
        assert inside.wait(10)
        beside = lock_named(path, fcntl.LOCK_EX, wait=False)
        if beside is not None:
            os.close(beside)
        assert beside is None, "a second holder got in beside the waiter"
    finally:
        leave.set()
        waiter.join(10)


def test_a_process_keeps_no_thread_lock_for_a_lock_file_nobody_holds_or_waits_for(tmp_path: Path) -> None:
    """Per-thread lock files (a first command's, a snapshot's) are many: their in-process locks must not pile up."""
    before = len(sandbox_process().file_locks)
    for n in range(50):
        with exclusive_file_lock(tmp_path / f"thread-{n}.lock"):
            assert len(sandbox_process().file_locks) == before + 1
    assert len(sandbox_process().file_locks) == before
