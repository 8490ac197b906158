"""One test per hardening promise: each is an attack an untrusted agent could try."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers.container_spec import LABEL_OWNER, label_filter, labels_for
from sandbox.coordination.process_lease import kernel_tag
from tests.support.pool import take_from_pool

pytestmark = pytest.mark.docker


@pytest.fixture(params=["per-command", "pooled-session"])
def box(request: pytest.FixtureRequest, deployment: SandboxDeployment, settings: SandboxSettings) -> Iterator[DockerSandbox]:
    """The attacker's sandbox: a container per command, or a session container the thread took from the warm pool."""
    if request.param == "per-command":
        yield DockerSandbox("attacker", deployment)
        return
    pooled = SandboxDeployment(settings.with_overrides(mode="session", pool_size=1))
    try:
        box = DockerSandbox("attacker", pooled)
        take_from_pool(box)
        yield box
    finally:
        pooled.close(remove_sessions=True)


def _our_containers(api: docker.APIClient, settings: SandboxSettings) -> list[dict]:
    return api.containers(all=True, filters=label_filter(labels_for(settings)))


def _leftover_command_containers(api: docker.APIClient, settings: SandboxSettings) -> list[dict]:
    """Per-command containers still there (a session container, pooled or not, stays by design)."""
    return api.containers(all=True, filters=label_filter(labels_for(settings, mode="ephemeral")))


# -- filesystem escapes -------------------------------------------------------------


def test_symlink_to_host_root_is_not_followed_by_file_tools(box: DockerSandbox) -> None:
    assert box.execute("ln -s / /workspace/root && ln -s /etc/passwd /workspace/passwd").exit_code == 0
    for path in ("/workspace/root/etc/passwd", "/workspace/passwd"):
        result = box.read(path)
        assert result.error is not None, path
        assert result.file_data is None
    assert box.download_files(["/workspace/root/etc/hostname"])[0].content is None


def test_symlink_write_does_not_touch_host(box: DockerSandbox, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # Inside the container this points at nothing; on the host it would be `outside`.
    assert box.execute(f"ln -s {outside} /workspace/out && ln -s /tmp /workspace/tmp").exit_code == 0
    assert box.write("/workspace/out/planted.txt", "x").error is not None
    assert box.write("/workspace/tmp/planted.txt", "x").error is not None
    assert box.upload_files([("/workspace/out/planted.txt", b"x")])[0].error is not None
    assert not (outside / "planted.txt").exists()
    assert not Path("/tmp/planted.txt").exists()


def test_traversal_and_absolute_host_paths_are_refused(box: DockerSandbox, settings: SandboxSettings) -> None:
    box.write("/workspace/mine.txt", "mine")
    host_path = str(settings.workspaces_dir / "attacker" / "mine.txt")
    for path in ("/workspace/../../etc/passwd", "/workspace/a/../../etc/passwd", "/etc/passwd", host_path, "/proc/self/environ"):
        assert box.read(path).error is not None, path
        assert box.download_files([path])[0].content is None, path
    assert box.read("/workspace/mine.txt").error is None


def test_symlinks_to_other_threads_and_server_secrets_are_refused(deployment: SandboxDeployment, settings: SandboxSettings) -> None:
    victim = DockerSandbox("victim", deployment)
    assert victim.write("/workspace/secret.txt", "victim-secret").error is None
    env_file = settings.workspaces_dir.parent / ".env"
    env_file.write_text("ZHIPUAI_API_KEY=server-secret\n")
    attacker = DockerSandbox("attacker", deployment)
    attacker.execute("ln -s ../victim/secret.txt /workspace/v && ln -s ../../.env /workspace/e && ln -s .. /workspace/up")
    for path in ("/workspace/v", "/workspace/e", "/workspace/up/victim/secret.txt"):
        result = attacker.read(path)
        assert result.error is not None, path
    listing = attacker.execute("cat /workspace/v /workspace/e 2>&1; ls -la /workspace/up/ 2>&1")
    assert "victim-secret" not in listing.output
    assert "server-secret" not in listing.output


def test_shared_is_read_only_for_shell_and_file_tools(box: DockerSandbox) -> None:
    assert "shared reference" in box.read("/shared/reference.txt").file_data["content"]
    assert "shared reference" in box.execute("cat /shared/reference.txt").output
    assert box.write("/shared/new.txt", "x").error is not None
    assert box.edit("/shared/reference.txt", "shared", "owned").error is not None
    assert box.upload_files([("/shared/new.txt", b"x")])[0].error is not None
    shell = box.execute("touch /shared/new.txt")
    assert shell.exit_code != 0
    assert "Read-only file system" in shell.output


def test_only_workspace_shared_memories_artifacts_and_previews_are_mounted(box: DockerSandbox, settings: SandboxSettings) -> None:
    result = box.execute("cat /proc/mounts; test -e /var/run/docker.sock && echo SOCKET")
    assert "SOCKET" not in result.output
    mounts = {line.split()[1] for line in result.output.splitlines() if line.startswith("/dev/")}
    # Docker's own per-container files, and the read-only init binary (`init=True`).
    assert mounts <= {
        "/workspace",
        "/shared",
        "/memories",
        "/artifacts",
        "/run/previews",  # the thread's preview relay sockets (`sandbox.previews`), nothing else
        # A session container's command runner: its root-only socket folder and its read-only script
        # (`sandbox.containers.runner_spec`); test_command_runner shows commands cannot use them.
        "/run/sandbox-runner",
        "/run/sandbox-runner.py",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/usr/sbin/docker-init",
        "/sbin/docker-init",
    }
    assert "/workspace" in mounts
    assert "/memories" in mounts
    assert "/artifacts" in mounts
    assert "/run/previews" in mounts


# -- identity, privileges, environment ----------------------------------------------


def test_runs_unprivileged_without_capabilities(box: DockerSandbox, settings: SandboxSettings) -> None:
    result = box.execute("id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status")
    lines = result.output.split()
    assert lines[0] == str(settings.uid) != "0"
    assert "0000000000000000" in result.output
    assert result.output.split("NoNewPrivs:")[1].split()[0] == "1"


def test_server_secrets_are_not_visible(box: DockerSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_ONLY_SECRET", "s3cr3t-value-42")
    result = box.execute("env; cat /proc/1/environ /proc/self/environ 2>/dev/null | tr '\\0' '\\n'")
    assert result.exit_code == 0
    assert "s3cr3t-value-42" not in result.output
    assert "SERVER_ONLY_SECRET" not in result.output


def test_network_is_off(box: DockerSandbox) -> None:
    script = (
        "import os, socket\n"
        "print(sorted(os.listdir('/sys/class/net')))\n"
        "try:\n"
        "    socket.create_connection(('10.255.255.53', 53), timeout=3)\n"
        "    print('CONNECTED')\n"
        "except OSError as e:\n"
        "    print('blocked', e)\n"
    )
    result = box.execute(f'python3 -c "{script}"')
    assert "['lo']" in result.output
    assert "blocked" in result.output
    assert "CONNECTED" not in result.output


# -- resources ---------------------------------------------------------------------


def test_cgroup_limits_are_applied(box: DockerSandbox, settings: SandboxSettings) -> None:
    result = box.execute(
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null "
        "|| cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max"
    )
    values = result.output.split()
    assert str(settings.memory_bytes) in values
    assert str(settings.pids_limit) in values
    assert "100000" in values  # one CPU: quota == period (v1) or "100000 100000" (v2)


def test_timeout_kills_the_process_and_leaves_no_container(
    box: DockerSandbox, settings: SandboxSettings, docker_api: docker.APIClient
) -> None:
    started = time.monotonic()
    result = box.execute("sleep 3000", timeout=5)
    elapsed = time.monotonic() - started
    assert elapsed < 20
    assert result.exit_code == 124
    assert "timed out" in result.output
    assert _leftover_command_containers(docker_api, settings) == []


def test_output_flood_is_capped_and_server_stays_healthy(box: DockerSandbox, settings: SandboxSettings) -> None:
    result = box.execute("head -c 60000000 /dev/zero | tr '\\0' x")
    assert result.truncated is True
    assert len(result.output.encode()) < settings.max_output_bytes + 1024
    assert result.output.startswith("xxxx")
    assert box.execute("echo still-alive").output.strip() == "still-alive"


def test_huge_allocation_is_killed(box: DockerSandbox) -> None:
    result = box.execute("python3 -c \"b = bytearray(8 * 1024**3); print('ALLOCATED', len(b))\"", timeout=60)
    assert "ALLOCATED" not in result.output
    assert result.exit_code not in (0, None)


def test_fork_bomb_is_contained(box: DockerSandbox, settings: SandboxSettings, docker_api: docker.APIClient) -> None:
    started = time.monotonic()
    result = box.execute("bomb() { bomb | bomb & }; bomb; sleep 5; echo done", timeout=10)
    assert time.monotonic() - started < 40
    assert result.exit_code is not None
    # The host still forks, and the thread's next command works.
    assert subprocess.run(["true"], check=False).returncode == 0
    assert box.execute("echo after-bomb").output.strip() == "after-bomb"
    assert _leftover_command_containers(docker_api, settings) == []


# -- lifecycle and failure modes ------------------------------------------------------


def test_leftover_containers_are_swept_on_startup(settings: SandboxSettings, docker_api: docker.APIClient, sandbox_image: str) -> None:
    gone = f"{kernel_tag()}-999999999-deadbeef"  # a process of this host that holds no lease: dead
    labels = {**labels_for(settings, thread_id="crashed", mode="ephemeral"), LABEL_OWNER: gone}
    leftover = docker_api.create_container(sandbox_image, ["sleep", "infinity"], labels=labels)["Id"]
    docker_api.start(leftover)
    fresh = SandboxDeployment(settings)
    try:
        fresh.start()  # connects and sweeps
        ids = [c["Id"] for c in _our_containers(docker_api, settings)]
        assert leftover not in ids
    finally:
        fresh.close(remove_sessions=True)


def test_docker_unreachable_gives_clear_error(settings: SandboxSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    box = DockerSandbox("t1", SandboxDeployment(settings))
    result = box.execute("echo hi")
    assert result.exit_code is None
    assert "Docker is not reachable" in result.output
    assert box.write("/workspace/still-works.txt", "file tools do not need Docker").error is None


def test_missing_image_names_the_setting_and_the_offline_script(settings: SandboxSettings) -> None:
    """The server's own image is the one that may be pulled; when that fails, the way out is named."""
    missing = "127.0.0.1:9/no-such-image-xyz:never"  # nothing answers on the remove port
    deployment = SandboxDeployment(settings.with_overrides(image=missing))
    try:
        result = DockerSandbox("t1", deployment).execute("echo hi")
    finally:
        deployment.close()
    assert "SANDBOX_IMAGE" in result.output
    assert "build-offline-image.sh" in result.output
    assert result.exit_code is None


def test_workspace_files_belong_to_the_sandbox_user(box: DockerSandbox, settings: SandboxSettings) -> None:
    assert box.write("/workspace/from_tool.txt", "tool\n").error is None
    created = os.stat(settings.workspaces_dir / "attacker" / "from_tool.txt")
    assert (created.st_uid, created.st_gid) == (settings.uid, settings.gid)
    assert box.execute("echo shell >> /workspace/from_tool.txt && echo new > /workspace/from_shell.txt").exit_code == 0
    workspace = settings.workspaces_dir / "attacker"
    for name in ("from_tool.txt", "from_shell.txt"):
        stat = os.stat(workspace / name)
        assert (stat.st_uid, stat.st_gid) == (settings.uid, settings.gid)
    assert box.read("/workspace/from_tool.txt").file_data["content"].splitlines() == ["tool", "shell"]
