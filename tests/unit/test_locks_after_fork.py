"""A forked child neither inherits nor breaks a lock its parent holds, for every kind of sandbox lock.

`flock` belongs to the open file, which `fork` shares: a child that kept its copy
of the fd would hold the lock after the parent let it go (a session start or a
disk mount blocked in every process until the child exits), and a child that
unlocked or unlinked it would free it under the parent. Each case runs in its own
Python process, which takes the lock, forks, and reports what a third party sees
(real processes and lock files, no Docker). The protocol is `docs/locks.md`.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from config.env import PROJECT_ROOT

PREAMBLE = """\
import contextlib, fcntl, os, time
from pathlib import Path
from config.sandbox import SandboxSettings
from sandbox.coordination.locks import open_lock, try_lock
from sandbox.coordination.process_state import sandbox_process
root = Path({root!r})
settings = SandboxSettings(workspaces_dir=root / "workspaces", shared_dir=root / "shared", memories_dir=root / "memories")

def free(path):
    # Another open file (as another process would have): can it take the lock exclusively?
    fd = open_lock(path)
    try:
        taken = try_lock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)
    return taken
"""

SCENARIO = """\
hold = contextlib.ExitStack()
path = take(hold)
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:
    state = sandbox_process()
    clean = not (state.leases or state.use_holds or state.running_slots or state.file_lock_fds)
    os.write(ready_w, b"1" if clean else b"0")
    time.sleep(60)  # alive while the parent lets go
    os._exit(0)
child_clean = os.read(ready_r, 1) == b"1"
held_with_child = not free(path)
hold.close()
free_after_parent = free(path)
os.kill(pid, 9)
os.waitpid(pid, 0)
print(child_clean, held_with_child, free_after_parent)
"""

TAKE = {
    "process lease": """\
        from sandbox.coordination.process_lease import process_lease, release_lease
        def take(hold):
            hold.callback(release_lease, settings)
            return process_lease(settings).path
        """,
    "thread use file (a running command)": """\
        from sandbox.coordination import thread_use
        def take(hold):
            hold.enter_context(thread_use.using(settings, "engine", "t-1", "me"))
            return thread_use.use_file(settings, "engine", "t-1")
        """,
    "running-command slot": """\
        from sandbox.coordination.user_caps import _user_dir, running_slot
        def take(hold):
            hold.enter_context(running_slot(settings, "alice"))
            return _user_dir(settings, "alice") / "running-0.lock"
        """,
    "session start lock": """\
        from sandbox.coordination.locks import exclusive_file_lock, lock_subdir
        def take(hold):
            path = lock_subdir(settings, "sessions") / "engine.lock"
            hold.enter_context(exclusive_file_lock(path))
            return path
        """,
    "disk images lock": """\
        from sandbox.disks.disk_quota import _locked
        def take(hold):
            hold.enter_context(_locked(settings.disk_images_dir))
            return settings.disk_images_dir / ".lock"
        """,
}


@pytest.mark.parametrize("kind", sorted(TAKE))
def test_a_forked_child_neither_inherits_nor_breaks_the_lock(kind: str, tmp_path: Path) -> None:
    code = PREAMBLE.format(root=str(tmp_path)) + textwrap.dedent(TAKE[kind]) + SCENARIO
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    child_clean, held_with_child, free_after_parent = done.stdout.split()
    assert child_clean == "True", "the child believes it holds its parent's lock"
    assert held_with_child == "True", "the fork released the parent's lock"
    assert free_after_parent == "True", "the child kept the lock after its parent let it go"
