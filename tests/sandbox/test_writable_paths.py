"""The container's own writable paths are bounded: read-only root, size-limited /tmp (= HOME).

With the workspace on its quota disk, nothing a command writes can reach the
host's disk unbounded: the root filesystem refuses writes and /tmp is a tmpfs
of `SANDBOX_TMPFS_SIZE` (charged to the container's memory limit).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.sandbox import SandboxMode
from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings

TMPFS = 16 * 1024**2


@pytest.fixture(params=["ephemeral", "session"])
def box(request: pytest.FixtureRequest, settings: SandboxSettings) -> Iterator[DockerSandbox]:
    mode: SandboxMode = request.param
    deployment = SandboxDeployment(settings.with_overrides(mode=mode, tmpfs_bytes=TMPFS))
    try:
        yield DockerSandbox("bounded", deployment)
    finally:
        deployment.close(remove_sessions=True)


def test_root_filesystem_is_read_only(box: DockerSandbox) -> None:
    for path in ("/etc/planted", "/usr/local/bin/planted", "/var/tmp/planted", "/planted"):
        result = box.execute(f"echo x > {path}")
        assert result.exit_code != 0, path
        assert "Read-only file system" in result.output, result.output
    assert box.execute("grep ' / ' /proc/mounts").output.split()[3].startswith("ro")


def test_tmp_and_home_are_a_size_limited_tmpfs(box: DockerSandbox) -> None:
    result = box.execute('grep " /tmp " /proc/mounts; echo "home=$HOME"; df -k /tmp | tail -1')
    assert result.exit_code == 0, result.output
    assert result.output.startswith("tmpfs /tmp tmpfs rw,nosuid,nodev"), result.output
    assert "home=/tmp" in result.output
    assert int(result.output.split()[-5]) * 1024 == TMPFS, result.output
    flood = box.execute("dd if=/dev/zero of=/tmp/flood bs=1M count=64")
    assert flood.exit_code != 0
    assert "No space left on device" in flood.output
    recovered = box.execute("rm -f /tmp/flood && echo cfg > ~/.toolrc && cat ~/.toolrc")
    assert recovered.output.strip() == "cfg", recovered.output


def test_workspace_stays_writable(box: DockerSandbox) -> None:
    result = box.execute("echo ok > /workspace/w.txt && cat /workspace/w.txt && python3 -c 'print(1+1)'")
    assert result.output.split() == ["ok", "2"], result.output
