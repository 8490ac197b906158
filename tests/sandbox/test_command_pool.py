"""Commands run on the sandbox's own pool (real Docker): the default executor stays free, no user takes every thread.

The event loop's default executor is cut to one thread, as if the server's other
work had taken the rest. `user-a` runs long commands through `aexecute`; the
default executor must still answer at once, `user-a` is refused before holding
every thread of the pool, and `user-b`'s command runs meanwhile. In both sandbox modes.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest

from config.sandbox import SandboxSettings
from sandbox import DockerSandbox, SandboxDeployment
from sandbox.containers.container_spec import label_filter, labels_for

pytestmark = pytest.mark.docker

LONG = "sleep 8; echo long-done"
WAIT = 90.0


def _running(api: docker.APIClient, settings: SandboxSettings, user_id: str) -> int:
    return len(api.containers(filters=label_filter(labels_for(settings, user_id=user_id))))


@pytest.mark.parametrize("mode", ["ephemeral", "session"])
async def test_commands_hold_no_default_executor_thread_and_no_user_holds_the_whole_pool(
    settings: SandboxSettings, docker_api: docker.APIClient, mode: str
) -> None:
    pooled = settings.with_overrides(max_running_per_user=8, command_threads=3, mode=mode)
    deployment = SandboxDeployment(pooled)
    loop = asyncio.get_running_loop()
    default = ThreadPoolExecutor(max_workers=1, thread_name_prefix="default-executor")
    loop.set_default_executor(default)
    try:
        a1, a2, a3 = (DockerSandbox(f"a-thread-{i}", deployment, user_id="user-a") for i in (1, 2, 3))
        b1 = DockerSandbox("b-thread-1", deployment, user_id="user-b")
        long = [asyncio.create_task(box.aexecute(LONG)) for box in (a1, a2)]
        for _ in range(int(WAIT * 5)):
            if _running(docker_api, pooled, "user-a") == 2:
                break
            await asyncio.sleep(0.2)
        assert _running(docker_api, pooled, "user-a") == 2, "user-a's two commands never ran at once"

        async with asyncio.timeout(5):  # the default executor still has its thread
            assert await asyncio.to_thread(lambda: "default answers") == "default answers"

        refused = await asyncio.wait_for(a3.aexecute("echo should-not-run"), 5)
        assert refused.exit_code is None
        assert "SANDBOX_COMMAND_THREADS=3 lets one user hold 2" in refused.output, refused.output
        assert "should-not-run" not in refused.output

        other = await asyncio.wait_for(b1.aexecute("echo user-b-runs"), WAIT)  # another user gets the third thread
        assert other.exit_code == 0, other.output
        assert other.output.strip() == "user-b-runs"
        assert not any(task.done() for task in long), "user-b only ran after user-a's commands ended"

        results = await asyncio.wait_for(asyncio.gather(*long), WAIT)
        assert [r.output.strip() for r in results] == ["long-done", "long-done"]
        again = await asyncio.wait_for(a3.aexecute("echo a-again"), WAIT)  # threads come back when commands end
        assert again.output.strip() == "a-again", again.output
    finally:
        deployment.close(remove_sessions=True)
