"""A thread id used again by another user never reaches the previous owner's workspace or container.

The server removes a gone thread's sandboxes (delete, prune, reconciler); this is
the layer below it: whatever is still there under the id, if it belongs to another
user, is removed before the new owner's first use.
"""

from __future__ import annotations

import uuid

import docker

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers.container_spec import LABEL_USER
from sandbox.containers.removal import list_containers


def test_a_workspace_left_by_another_user_is_discarded_before_the_new_owner_uses_it(deployment: SandboxDeployment) -> None:
    thread_id = str(uuid.uuid4())
    alice = DockerSandbox(thread_id, deployment, user_id="alice")
    assert alice.write("/workspace/secret.txt", "alice's").error is None

    bob = DockerSandbox(thread_id, deployment, user_id="bob")
    assert bob.read("/workspace/secret.txt").error is not None, "the next owner read the previous owner's file"
    assert [e["path"] for e in bob.ls("/workspace").entries or []] == []
    assert bob.write("/workspace/mine.txt", "bob's").error is None
    # Bob's use of his workspace never removes it again.
    assert bob.read("/workspace/mine.txt").file_data is not None


def test_a_session_container_left_by_another_user_is_replaced_before_the_new_owner_runs_in_it(
    session_deployment: SandboxDeployment, settings: SandboxSettings, docker_api: docker.APIClient
) -> None:
    thread_id = str(uuid.uuid4())
    alice = DockerSandbox(thread_id, session_deployment, user_id="alice")
    assert alice.execute("echo alice-memory > /memories/AGENTS.md").exit_code == 0
    [alices] = list_containers(docker_api, settings, thread_id=thread_id)

    bob = DockerSandbox(thread_id, session_deployment, user_id="bob")
    result = bob.execute("cat /memories/AGENTS.md 2>&1; ls /workspace")
    assert "alice-memory" not in result.output, "the next owner ran in the previous owner's container with its /memories"
    [bobs] = list_containers(docker_api, settings, thread_id=thread_id)
    assert bobs.container_id != alices.container_id
    assert docker_api.inspect_container(bobs.container_id)["Config"]["Labels"][LABEL_USER] == "bob"
