"""A session command that outlives its timeout makes the host restart the container; the next command must find it up.

A process that leaves the command's process group (`setsid`) survives the
in-container `timeout` and keeps the output stream open, so the host's deadline
restarts the whole container. The command's result must wait for that restart,
or the thread's next command races it ("cannot exec in a stopped container").
"""

from __future__ import annotations

import pytest

from sandbox import DockerSandbox, SandboxDeployment

pytestmark = pytest.mark.docker


def test_the_next_command_after_a_host_restart_runs(session_deployment: SandboxDeployment) -> None:
    box = DockerSandbox("outlives-timeout", session_deployment)
    assert box.execute("true").exit_code == 0
    stuck = box.execute("setsid sleep 1000 & sleep 1000", timeout=1)
    assert stuck.exit_code == 124, stuck.output
    after = box.execute("echo after-restart")
    assert after.exit_code == 0, after.output
    assert after.output.strip() == "after-restart"
