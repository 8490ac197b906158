"""A server stopped with SIGTERM leaves none of its loop mounts or loop devices behind, and the next start works.

Each workspace, `/artifacts` and `/memories` folder is a loop-mounted ext4 image
(when the server runs as root). Counted only under this test's own folders, in
`/proc/self/mountinfo` and `losetup -a`: other tests and servers on the machine
are not this test's business.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.aegra_server import run_aegra
from tests.support.agent_client import approve, resume, sdk_client, stream_run, thread_state, tool_messages, user_input
from tests.support.e2e_servers import make_e2e_paths, server_env
from tests.support.engines import AEGRA, LANGGRAPH_DEV
from tests.support.langgraph_server import E2EPaths, LangGraphServer, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM, call, say
from tests.support.workspaces import mounts_under, remove_workspaces_under

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def loop_devices_under(root: Path) -> list[str]:
    """Loop devices whose backing file lies below `root` (`losetup -a`: `/dev/loopN: [dev]:inode (/path)`)."""
    listing = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True, timeout=30).stdout
    prefix = str(root.resolve()) + "/"
    return [line for line in listing.splitlines() if f"({prefix}" in line]


async def _run_command(url: str, scripted_llm: ScriptedLLM, thread_id: str | None, command: str) -> tuple[str, str]:
    """Run `command` through the agent (approved) on `thread_id` (a new thread when None); its thread and tool output."""
    marker = f"stop-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(marker, call("execute", command=command), say("done"))
    async with sdk_client(url) as client:
        if thread_id is None:
            thread_id = str((await client.threads.create())["thread_id"])
        paused = await stream_run(client, thread_id, input=user_input(f"run ({marker})"))
        assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
        done = await stream_run(client, thread_id, command=resume(approve()))
        assert not done.errors, done.describe()
        output = str(tool_messages(await thread_state(client, thread_id), "execute")[-1]["content"])
    return thread_id, output


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("losetup") is None, reason="loop-mounted quotas need root and losetup")
@pytest.mark.parametrize(
    ("engine", "mode"),
    [(LANGGRAPH_DEV, "ephemeral"), (LANGGRAPH_DEV, "session"), (AEGRA, "session")],
    ids=["dev-ephemeral", "dev-session", "aegra-2-processes-session"],
)
async def test_sigterm_leaves_no_loop_mount_and_the_next_start_finds_everything(
    engine: str, mode: str, scripted_llm: ScriptedLLM, tmp_path: Path, sandbox_image: str
) -> None:
    """On Aegra both processes stop at once: each gives up its lease before looking for the other, so one unmounts."""
    paths: E2EPaths = make_e2e_paths(tmp_path)
    env = server_env(scripted_llm, paths, sandbox_image, SANDBOX_MODE=mode)

    def serve() -> contextlib.AbstractContextManager[LangGraphServer]:
        if engine == AEGRA:
            return run_aegra(workdir=paths.server_home, env=env, workers=2)
        return run_langgraph_dev(workdir=paths.server_home, env=env)

    try:
        with serve() as server:
            write = "echo kept > /workspace/kept.txt && echo remembered >> /memories/AGENTS.md"
            thread_id, _ = await _run_command(server.url, scripted_llm, None, write)
            assert mounts_under(tmp_path), "the run mounted no quota disk, so this test would prove nothing"
            assert loop_devices_under(tmp_path)
        assert not server.alive
        assert mounts_under(tmp_path) == []
        assert loop_devices_under(tmp_path) == []

        with serve() as server:
            _, output = await _run_command(server.url, scripted_llm, thread_id, "cat /workspace/kept.txt /memories/AGENTS.md")
            assert "kept" in output, output
            assert "remembered" in output, output
        assert mounts_under(tmp_path) == []
        assert loop_devices_under(tmp_path) == []
    finally:
        remove_workspaces_under(paths.workspaces, paths.memories)
