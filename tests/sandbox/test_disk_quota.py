"""Per-thread disk quotas (real loop-mounted ext4 images, real Docker).

Each test's workspaces get a 64 MiB quota (`make_settings`); a filled workspace
must refuse more from the shell and from the file tools, keep the host's free
space, and keep working once files are deleted.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers.removal import remove_workspace
from sandbox.disks.disk_quota import locked_images, quota_problem
from sandbox.disks.quota_disks import image_path
from sandbox.disks.workspace import prepare_workspace, workspace_thread_ids
from sandbox.runs.errors import WorkspaceDiskError
from tests.support.sandbox_settings import TEST_ARTIFACTS_QUOTA, TEST_DISK_QUOTA
from tests.support.workspaces import mounts_under

MiB = 1024**2


pytestmark = pytest.mark.usefixtures("quotas_enforced")


@pytest.fixture
def box(deployment: SandboxDeployment) -> DockerSandbox:
    return DockerSandbox("filler", deployment)


def _host_free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _losetup_for(image: Path) -> str:
    return subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True, check=True).stdout.strip()


def test_workspace_is_its_own_filesystem_of_the_quota_size(box: DockerSandbox, settings: SandboxSettings) -> None:
    result = box.execute("df -k /workspace | tail -1; stat -c '%u:%g %a' /workspace; ls -A /workspace")
    assert result.exit_code == 0, result.output
    size_kib = int(result.output.split()[1])
    assert 0.75 * TEST_DISK_QUOTA <= size_kib * 1024 <= TEST_DISK_QUOTA, result.output
    assert f"{settings.uid}:{settings.gid} 700" in result.output
    assert "lost+found" not in result.output
    image = image_path(settings, "filler")
    assert image.stat().st_size == TEST_DISK_QUOTA
    assert image.stat().st_blocks * 512 < TEST_DISK_QUOTA / 2, "images are sparse"
    assert not image.is_relative_to(settings.workspaces_dir), "no sandbox can see the image"


def test_shell_write_stops_at_quota_and_thread_recovers(box: DockerSandbox, settings: SandboxSettings) -> None:
    free_before = _host_free(settings.workspaces_dir.parent)
    result = box.execute("dd if=/dev/zero of=/workspace/big bs=1M count=200")
    assert result.exit_code != 0
    assert "No space left on device" in result.output
    assert "disk quota of 64 MiB (SANDBOX_DISK_QUOTA)" in result.output, result.output
    big = settings.workspaces_dir / "filler" / "big"
    assert big.stat().st_size <= TEST_DISK_QUOTA
    assert free_before - _host_free(settings.workspaces_dir.parent) < 100 * MiB, "the host kept its free space"
    # A second attacker trick: many small files and a fallocate cannot pass it either.
    again = box.execute(
        "fallocate -l 100M /workspace/more || for i in $(seq 100); do head -c 1M /dev/zero > /workspace/f$i || exit 9; done"
    )
    assert again.exit_code != 0
    assert box.write("/workspace/note.txt", "hello").error is not None
    # The thread keeps working once space is freed.
    cleanup = box.execute("rm -f /workspace/big /workspace/more /workspace/f*; echo ok > /workspace/small && cat /workspace/small")
    assert cleanup.exit_code == 0, cleanup.output
    assert cleanup.output.strip() == "ok"
    assert "disk quota" not in cleanup.output
    assert box.write("/workspace/note.txt", "hello").error is None
    assert box.read("/workspace/note.txt").file_data["content"] == "hello"


def test_file_tools_stop_at_quota_without_partial_files(box: DockerSandbox, settings: SandboxSettings) -> None:
    free_before = _host_free(settings.workspaces_dir.parent)
    huge = "x" * (80 * MiB)
    result = box.write("/workspace/huge.txt", huge)
    assert result.error is not None
    assert "disk quota (SANDBOX_DISK_QUOTA) is full" in result.error
    assert "Traceback" not in result.error
    assert str(settings.workspaces_dir) not in result.error
    assert not (settings.workspaces_dir / "filler" / "huge.txt").exists(), "no half-written file is left"
    assert box.upload_files([("/workspace/huge.bin", huge.encode())])[0].error is not None
    assert not (settings.workspaces_dir / "filler" / "huge.bin").exists()

    # An existing file keeps its old content when an overwrite or an edit does not fit.
    assert box.write("/workspace/keep.txt", "original\n").error is None
    overwrite = box.write("/workspace/keep.txt", huge)
    assert overwrite.error is not None
    assert "disk quota" in overwrite.error
    edit = box.edit("/workspace/keep.txt", "original", "y" * (80 * MiB))
    assert edit.error is not None
    assert "disk quota" in edit.error
    assert (settings.workspaces_dir / "filler" / "keep.txt").read_text() == "original\n"
    assert free_before - _host_free(settings.workspaces_dir.parent) < 100 * MiB

    # Fill it up to the brim from the shell: a small write through the tools is refused too.
    box.execute("dd if=/dev/zero of=/workspace/fill bs=1M count=200")
    small = box.write("/workspace/small.txt", "z" * (2 * MiB))  # a 64 MiB image has well under 1 MiB left
    assert small.error is not None
    assert "disk quota" in small.error
    assert box.delete("/workspace/fill").error is None
    assert box.write("/workspace/small.txt", "z" * (2 * MiB)).error is None
    assert box.write("/workspace/big-but-fits.txt", "w" * (20 * MiB)).error is None


def test_disk_total_refuses_a_workspace_past_it(tmp_path: Path, sandbox_image: str) -> None:
    from tests.support.sandbox_settings import make_settings  # noqa: PLC0415
    from tests.support.workspaces import remove_all_workspaces  # noqa: PLC0415

    settings = make_settings(tmp_path, sandbox_image, disk_total_bytes=100 * MiB)
    deployment = SandboxDeployment(settings)
    try:
        first = DockerSandbox("first", deployment)
        second = DockerSandbox("second", deployment)
        assert first.write("/workspace/a.txt", "a").error is None
        refused = second.write("/workspace/b.txt", "b")
        assert refused.error is not None
        assert "SANDBOX_DISK_TOTAL" in refused.error
        assert "Traceback" not in refused.error
        command = second.execute("echo never")
        assert command.exit_code is None
        assert "SANDBOX_DISK_TOTAL" in command.output
        assert "never" not in command.output
        assert not image_path(settings, "second").exists()
        # Deleting a thread frees its share of the total.
        remove_workspace(settings, "first")
        assert second.write("/workspace/b.txt", "b").error is None
        assert second.execute("cat /workspace/b.txt").output.strip() == "b"
    finally:
        deployment.close(remove_sessions=True)
        remove_all_workspaces(settings)


def test_an_unmounted_image_is_mounted_again_with_its_files(box: DockerSandbox, settings: SandboxSettings) -> None:
    assert box.write("/workspace/kept.txt", "survives restarts").error is None
    workspace = settings.workspaces_dir / "filler"
    subprocess.run(["umount", str(workspace)], check=True)
    assert not os.path.ismount(workspace)
    st = os.stat(workspace)
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0), "an unmounted mount point cannot be written around the quota"
    fresh = DockerSandbox("filler", box.deployment)  # a restarted server
    assert fresh.read("/workspace/kept.txt").file_data["content"] == "survives restarts"
    assert os.path.ismount(workspace)
    subprocess.run(["umount", str(workspace)], check=True)
    assert fresh.execute("cat /workspace/kept.txt").output.strip() == "survives restarts"


def test_mounting_one_threads_image_does_not_wait_for_another_being_created(settings: SandboxSettings) -> None:
    """A new image is made under the one lock of all images (budgets count them all); mounting an existing one is not.

    Every thread's first command mounts its disks: behind one lock, a burst of new
    threads mounted them one at a time.
    """
    prepare_workspace(settings, "mounted-alone", user_id="alice")
    workspace = settings.workspaces_dir / "mounted-alone"
    subprocess.run(["umount", str(workspace)], check=True)
    with ThreadPoolExecutor(1) as pool, locked_images(settings):  # as while another thread's image is created
        mounting = pool.submit(prepare_workspace, settings, "mounted-alone", user_id="alice")
        assert mounting.result(timeout=30) == workspace
    assert os.path.ismount(workspace)


def test_session_container_sees_the_quota(session_deployment: SandboxDeployment) -> None:
    box = DockerSandbox("session-filler", session_deployment)
    result = box.execute("dd if=/dev/zero of=/workspace/big bs=1M count=200")
    assert "No space left on device" in result.output
    assert box.execute("rm /workspace/big && echo freed").output.strip() == "freed"


def test_remove_workspace_unmounts_and_deletes_everything(box: DockerSandbox, settings: SandboxSettings) -> None:
    assert box.write("/workspace/a.txt", "a").error is None
    image = image_path(settings, "filler")
    assert _losetup_for(image)
    assert workspace_thread_ids(settings) == {"filler"}
    assert remove_workspace(settings, "filler") is True
    assert not image.exists()
    assert not (settings.workspaces_dir / "filler").exists()
    assert mounts_under(settings.workspaces_dir) == []
    assert _losetup_for(image) == "", "the loop device is released"
    assert remove_workspace(settings, "filler") is False  # twice is fine
    assert remove_workspace(settings, "never-existed") is False
    assert workspace_thread_ids(settings) == set()


def test_existing_plain_workspace_moves_into_its_image(settings: SandboxSettings) -> None:
    legacy = settings.workspaces_dir / "legacy"
    (legacy / "src").mkdir(parents=True)
    (legacy / "src" / "main.py").write_text("print('old')\n")
    prepare_workspace(settings, "legacy", user_id="local")
    assert os.path.ismount(legacy)
    assert (legacy / "src" / "main.py").read_text() == "print('old')\n"
    assert image_path(settings, "legacy").exists()


def test_legacy_workspace_larger_than_quota_is_refused_and_kept(settings: SandboxSettings) -> None:
    legacy = settings.workspaces_dir / "too-big"
    legacy.mkdir(parents=True)
    with open(legacy / "blob", "wb") as handle:
        handle.write(os.urandom(TEST_DISK_QUOTA + MiB))
    with pytest.raises(WorkspaceDiskError, match="SANDBOX_DISK_QUOTA"):
        prepare_workspace(settings, "too-big", user_id="local")
    assert not os.path.ismount(legacy)
    assert (legacy / "blob").stat().st_size == TEST_DISK_QUOTA + MiB
    assert not image_path(settings, "too-big").exists()


def test_quota_off_keeps_plain_directories(settings: SandboxSettings) -> None:
    plain = settings.with_overrides(disk_quota_bytes=0)
    workspace = prepare_workspace(plain, "plain", user_id="local")
    assert workspace.is_dir()
    assert not os.path.ismount(workspace)
    assert not image_path(plain, "plain").exists()


def test_server_that_is_not_root_says_quotas_are_off(tmp_path: Path) -> None:
    """A forked child drops to `nobody` and asks, as a non-root server would at startup."""
    settings = SandboxSettings(workspaces_dir=tmp_path / "unprivileged" / "workspaces")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            stream = os.fdopen(write_end, "w")
            logging.getLogger("sandbox.disks.disk_quota").addHandler(logging.StreamHandler(stream))
            os.setgid(65534)
            os.setuid(65534)
            print(f"problem: {quota_problem(settings)}", file=stream, flush=True)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        said = pipe.read()
    assert os.waitpid(pid, 0)[1] == 0, said
    assert "WORKSPACE DISK QUOTAS ARE OFF: the server does not run as root" in said
    assert "problem: the server does not run as root" in said


def _usage_of(settings: SandboxSettings, user_id: str) -> int:
    from sandbox.disks.disk_budget import disk_use_by_user  # noqa: PLC0415

    use = disk_use_by_user(settings).get(user_id)
    return 0 if use is None else use.reserved


@pytest.mark.parametrize("mode", ["ephemeral", "session"])
def test_one_user_past_their_budget_is_refused_and_others_are_not(tmp_path: Path, sandbox_image: str, mode: str) -> None:
    """Two threads (a 64 MiB workspace and 16 MiB of artifacts each) and the memories (16 MiB) fit 192 MiB; a third does not."""
    from tests.support.sandbox_settings import make_settings  # noqa: PLC0415
    from tests.support.workspaces import remove_all_workspaces  # noqa: PLC0415

    settings = make_settings(tmp_path, sandbox_image, disk_per_user_bytes=192 * MiB, mode=mode)
    deployment = SandboxDeployment(settings)
    try:
        hog = [DockerSandbox(f"hog-{i}", deployment, user_id="hog") for i in range(3)]
        for box in hog[:2]:
            assert box.execute("echo ok").output.strip() == "ok"
        assert _usage_of(settings, "hog") == 2 * (TEST_DISK_QUOTA + TEST_ARTIFACTS_QUOTA) + settings.memories_quota_bytes

        command = hog[2].execute("echo never")
        assert command.exit_code is None
        assert "SANDBOX_DISK_PER_USER" in command.output, command.output
        assert "176 MiB" in command.output, command.output
        assert "192 MiB" in command.output, command.output
        assert "never" not in command.output
        refused = hog[2].write("/workspace/b.txt", "b")
        assert refused.error is not None
        assert "SANDBOX_DISK_PER_USER" in refused.error
        assert "Traceback" not in refused.error
        assert not image_path(settings, "hog-2").exists()

        # Another user is not affected: their own budget is untouched.
        other = DockerSandbox("other-1", deployment, user_id="other")
        assert other.write("/workspace/mine.txt", "mine").error is None
        assert other.execute("cat /workspace/mine.txt").output.strip() == "mine"
        assert _usage_of(settings, "other") == TEST_DISK_QUOTA + TEST_ARTIFACTS_QUOTA + settings.memories_quota_bytes

        # Deleting one of the user's threads frees their share again.
        remove_workspace(settings, "hog-0")
        assert hog[2].write("/workspace/b.txt", "b").error is None
        assert _usage_of(settings, "hog") == 2 * TEST_DISK_QUOTA + TEST_ARTIFACTS_QUOTA + settings.memories_quota_bytes
    finally:
        deployment.close(remove_sessions=True)
        remove_all_workspaces(settings)


def _claim_workspace(settings: SandboxSettings, thread_id: str, start_at: float) -> bool:
    """In a separate process: at `start_at`, create a workspace for user `racer`; whether it was allowed."""
    time.sleep(max(0.0, start_at - time.time()))
    try:
        prepare_workspace(settings, thread_id, user_id="racer")
    except WorkspaceDiskError:
        return False
    return True


def test_budget_holds_across_server_processes(settings: SandboxSettings) -> None:
    """Eight processes create workspaces of one user at the same moment: exactly as many as the budget allows succeed."""
    import multiprocessing  # noqa: PLC0415

    budget = settings.with_overrides(disk_per_user_bytes=3 * TEST_DISK_QUOTA + MiB)
    # A fork server: processes of their own (no threads of pytest's copied), importing the sandbox once.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with context.Pool(8) as pool:
        start_at = time.time() + 3  # every worker is up and waiting by then
        results = pool.starmap(_claim_workspace, [(budget, f"race-{i}", start_at) for i in range(8)], chunksize=1)
    assert sum(results) == 3, results
    assert len(list(budget.disk_images_dir.glob("race-*.img"))) == 3
    assert _usage_of(budget, "racer") == 3 * TEST_DISK_QUOTA


def test_disk_use_by_user_reports_reserved_and_used_bytes(settings: SandboxSettings) -> None:
    from sandbox.disks.disk_budget import disk_use_by_user  # noqa: PLC0415

    prepare_workspace(settings, "mine-1", user_id="alice")
    workspace = prepare_workspace(settings, "mine-2", user_id="alice")
    with open(workspace / "data", "wb") as handle:
        handle.write(os.urandom(8 * MiB))
        os.fsync(handle.fileno())
    prepare_workspace(settings, "theirs", user_id="bob")
    use = disk_use_by_user(settings)
    assert set(use) == {"alice", "bob"}
    assert use["alice"].reserved == 2 * TEST_DISK_QUOTA
    assert use["bob"].reserved == TEST_DISK_QUOTA
    assert use["alice"].used >= 8 * MiB > use["bob"].used
    assert use["alice"].used < use["alice"].reserved, "images are sparse"
