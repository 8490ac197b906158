"""Each user's `/memories`: shared by their threads, invisible to other users, no way out of it.

Real Docker for the shell side; the file tools are the same `DockerSandbox` methods
the agent calls. Users are told apart by `user_id`, exactly as the backend receives
it from a run's authenticated identity.
"""

from __future__ import annotations

import os
import stat

import pytest
from deepagents.backends.protocol import FILE_NOT_FOUND

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.disks.disk_quota import quota_problem
from sandbox.disks.memories import memories_path

pytestmark = pytest.mark.docker

NOTE = "- Alice prefers tabs; TOP-SECRET-ALICE-NOTE\n"
SECRET = "TOP-SECRET-ALICE-NOTE"


def _box(deployment: SandboxDeployment, user_id: str, thread_id: str) -> DockerSandbox:
    return DockerSandbox(thread_id, deployment, user_id=user_id)


def test_a_user_without_memories_reads_as_file_not_found(deployment: SandboxDeployment, settings: SandboxSettings) -> None:
    box = _box(deployment, "newcomer", "t-new")
    [response] = box.download_files(["/memories/AGENTS.md"])
    assert response.error == FILE_NOT_FOUND, "deepagents fails the run on any other error"
    assert box.ls("/memories").entries == []
    assert "not found" in (box.read("/memories/AGENTS.md").error or "")
    assert not memories_path(settings, "newcomer").exists(), "reads never create the folder"


def test_memory_is_shared_by_a_users_threads_and_hidden_from_other_users(deployment: SandboxDeployment, settings: SandboxSettings) -> None:
    alice_1 = _box(deployment, "alice", "t-alice-1")
    alice_2 = _box(deployment, "alice", "t-alice-2")
    bob = _box(deployment, "bob", "t-bob")

    assert alice_1.write("/memories/AGENTS.md", NOTE).error is None
    folder = memories_path(settings, "alice")
    assert (folder / "AGENTS.md").read_text(encoding="utf-8") == NOTE
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    if os.geteuid() == 0:
        assert (folder.stat().st_uid, folder.stat().st_gid) == (settings.uid, settings.gid)
        assert (folder / "AGENTS.md").stat().st_uid == settings.uid

    [download] = alice_2.download_files(["/memories/AGENTS.md"])
    assert download.content == NOTE.encode()
    shell = alice_2.execute("cat /memories/AGENTS.md")
    assert shell.exit_code == 0, shell.output
    assert SECRET in shell.output

    [download] = bob.download_files(["/memories/AGENTS.md"])
    assert download.error == FILE_NOT_FOUND
    assert bob.ls("/memories").entries == []
    assert bob.grep(SECRET, "/").matches == []
    assert bob.glob("**", "/memories").matches == []
    shell = bob.execute("ls -A /memories; cat /memories/AGENTS.md; grep -rs TOP-SECRET / --include=*.md; echo done")
    assert SECRET not in shell.output
    assert shell.output.strip().endswith("done")
    assert "No such file" in shell.output


def test_the_shell_and_the_file_tools_see_the_same_memories(deployment: SandboxDeployment) -> None:
    alice = _box(deployment, "alice", "t-alice-shell")
    written = alice.execute("mkdir -p /memories/notes && echo 'from the shell' > /memories/notes/a.md")
    assert written.exit_code == 0, written.output
    assert "from the shell" in (alice.read("/memories/notes/a.md").file_data or {}).get("content", "")
    assert alice.edit("/memories/notes/a.md", "the shell", "the file tools").error is None
    assert alice.execute("cat /memories/notes/a.md").output.strip() == "from the file tools"
    assert alice.delete("/memories/notes").error is None
    assert alice.execute("ls -A /memories").output.strip() == ""
    refused = alice.delete("/memories")
    assert refused.error is not None
    assert "root" in refused.error


def test_symlinks_in_memories_cannot_reach_other_users_or_the_host(deployment: SandboxDeployment, settings: SandboxSettings) -> None:
    bob = _box(deployment, "bob", "t-bob-victim")
    assert bob.write("/memories/AGENTS.md", "bob's private note TOP-SECRET-BOB\n").error is None
    bob_host = memories_path(settings, "bob")

    alice = _box(deployment, "alice", "t-alice-attacker")
    made = alice.execute(
        "cd /memories && ln -s /etc/passwd passwd && ln -s .. up && ln -s ../.. up2 "
        f"&& ln -s {bob_host} bob_host && ln -s {bob_host}/AGENTS.md bob_file "
        "&& ln -s /shared shared && ln -s /workspace/mine.txt ws_link && echo mine > /workspace/mine.txt"
    )
    assert made.exit_code == 0, made.output

    for path in (
        "/memories/passwd",
        f"/memories/up/{bob_host.name}/AGENTS.md",
        f"/memories/up2/memories/{bob_host.name}/AGENTS.md",
        "/memories/bob_host/AGENTS.md",
        "/memories/bob_file",
    ):
        result = alice.read(path)
        assert result.error is not None, path
        assert "TOP-SECRET-BOB" not in repr(result)
        assert "root:" not in repr(result)
        assert str(settings.memories_dir) not in (result.error or ""), "no host path reaches the agent"
        [download] = alice.download_files([path])
        assert download.content is None, path
    assert alice.write("/memories/bob_file", "overwritten").error is not None
    assert alice.write("/memories/shared/x.txt", "nope").error is not None
    assert "TOP-SECRET-BOB" in (bob_host / "AGENTS.md").read_text(encoding="utf-8")
    assert alice.grep("TOP-SECRET-BOB", "/").matches == []

    # Links that stay inside this sandbox's roots resolve as the shell resolves them.
    assert alice.read("/memories/ws_link").file_data["content"] == "mine"  # type: ignore[index]
    assert "shared reference" in alice.read("/memories/shared/reference.txt").file_data["content"]  # type: ignore[index]


@pytest.mark.parametrize("user_id", ["../../etc", "/", "..", "a/../../b", "\x00", "ü/../x"])
def test_hostile_user_ids_stay_inside_the_memories_dir(deployment: SandboxDeployment, settings: SandboxSettings, user_id: str) -> None:
    box = _box(deployment, user_id, "t-hostile")
    assert box.write("/memories/AGENTS.md", "x").error is None
    folder = memories_path(settings, user_id)
    assert folder.parent == settings.memories_dir
    assert (folder / "AGENTS.md").read_text(encoding="utf-8") == "x"
    root = settings.memories_dir.parent
    created = {p.relative_to(root).parts[0] for p in root.iterdir()}
    # Besides the three folders: the workspaces' disk images (`sandbox.disks.disk_quota`) and per-user locks.
    assert created <= {"workspaces", "shared", "memories", "workspaces.disks", "workspaces.locks", "memories.disks"}, created


def test_memories_of_session_containers_belong_to_their_user(session_deployment: SandboxDeployment, settings: SandboxSettings) -> None:
    alice = _box(session_deployment, "alice", "t-alice-session")
    bob = _box(session_deployment, "bob", "t-bob-session")
    assert alice.execute("echo alice-was-here > /memories/AGENTS.md").exit_code == 0
    assert bob.execute("echo bob-was-here > /memories/AGENTS.md").exit_code == 0
    assert alice.execute("cat /memories/AGENTS.md").output.strip() == "alice-was-here"
    assert bob.execute("cat /memories/AGENTS.md").output.strip() == "bob-was-here"
    assert (memories_path(settings, "alice") / "AGENTS.md").read_text(encoding="utf-8") == "alice-was-here\n"


def test_memories_are_bounded_by_their_own_quota_disk(deployment: SandboxDeployment, settings: SandboxSettings) -> None:
    problem = quota_problem(settings)
    if problem is not None:
        if os.environ.get("SANDBOX_REQUIRE_DOCKER", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(f"disk quotas cannot be enforced here: {problem}")
        pytest.skip(f"disk quotas cannot be enforced here: {problem}")
    alice = _box(deployment, "alice", "t-alice-quota")
    bob = _box(deployment, "bob", "t-bob-quota")
    assert alice.write("/memories/AGENTS.md", NOTE).error is None
    folder = memories_path(settings, "alice")
    assert os.path.ismount(folder), "the memory folder is its own filesystem"
    image = settings.memories_images_dir / f"{folder.name}.img"
    assert image.stat().st_size == settings.memories_quota_bytes == 16 * 1024**2
    assert not image.is_relative_to(settings.memories_dir), "no sandbox can see the image"

    flood = alice.execute("dd if=/dev/zero of=/memories/flood bs=1M count=64")
    assert flood.exit_code != 0
    assert "No space left on device" in flood.output, flood.output
    assert (folder / "flood").stat().st_size <= settings.memories_quota_bytes
    refused = alice.write("/memories/more.md", "x" * (1024**2))
    assert refused.error is not None
    assert "no space" in refused.error.lower(), refused.error
    assert (folder / "AGENTS.md").read_text(encoding="utf-8") == NOTE, "a full disk never costs the memory it holds"

    assert bob.write("/memories/AGENTS.md", "bob is fine\n").error is None, "one user's full memory is theirs alone"
    assert alice.execute("rm /memories/flood && echo ok >> /memories/AGENTS.md").exit_code == 0
