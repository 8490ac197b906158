"""How a sandbox container is built: mounts, limits, identity and labels.

One function builds the `create_container` arguments for both modes (and for the
benchmark's raw floor), so the hardening cannot drift between them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from config.sandbox import SandboxMode, SandboxSettings
from sandbox.containers.runner_spec import RUNNER_CAPS, RUNNER_USER, RunnerFolder, new_runner_folder, runner_binds
from sandbox.disks.artifacts import ARTIFACTS_MOUNT, ensure_artifacts
from sandbox.disks.memories import MEMORIES_MOUNT, ensure_memories
from sandbox.disks.workspace import ensure_workspace
from sandbox.previews.folders import PREVIEWS_MOUNT, ensure_previews

WORKSPACE_MOUNT = "/workspace"
SHARED_MOUNT = "/shared"
TMP_MOUNT = "/tmp"
"""The only writable path besides /workspace: a size-limited tmpfs, also the sandbox user's HOME."""

LABEL_PREFIX = "io.github.deepagents-docker-sandbox"
LABEL_MANAGED = f"{LABEL_PREFIX}.managed"
LABEL_SCOPE = f"{LABEL_PREFIX}.scope"
LABEL_THREAD = f"{LABEL_PREFIX}.thread"
LABEL_MODE = f"{LABEL_PREFIX}.mode"
LABEL_USER = f"{LABEL_PREFIX}.user"
"""The thread's owner (the run's authenticated user id): per-user caps count containers by it."""
LABEL_OWNER = f"{LABEL_PREFIX}.owner"
"""Ephemeral containers: the lease id of the server process running its command (`sandbox.coordination.process_lease`);
a sweep removes only containers whose owner process is dead. Session containers have none: any process may use them."""
LABEL_RUNNER = f"{LABEL_PREFIX}.runner"
"""Session containers with a command runner: the token naming its socket folder (`sandbox.containers.runner_spec`)."""

NO_ENTRYPOINT = ("",)
"""Docker's way to drop an image's ENTRYPOINT: every container runs our wrapper (and its caps), never
whatever an image's author made it run, which could ignore the command and its output cap."""

SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def scope_of(settings: SandboxSettings) -> str:
    """Containers belong to one `workspaces/` dir, so two checkouts never sweep each other's."""
    return hashlib.sha256(str(settings.workspaces_dir).encode()).hexdigest()[:16]


def labels_for(
    settings: SandboxSettings,
    *,
    thread_id: str | None = None,
    mode: SandboxMode | None = None,
    user_id: str | None = None,
) -> dict[str, str]:
    """Labels that identify our containers; with fewer arguments, a broader filter."""
    labels = {LABEL_MANAGED: "true", LABEL_SCOPE: scope_of(settings)}
    if thread_id is not None:
        labels[LABEL_THREAD] = thread_id
    if user_id is not None:
        labels[LABEL_USER] = user_id
    if mode is not None:
        labels[LABEL_MODE] = mode
    return labels


def label_filter(labels: dict[str, str]) -> dict[str, list[str]]:
    """Docker's `filters=` form of a label set."""
    return {"label": [f"{key}={value}" for key, value in labels.items()]}


def session_container_name(settings: SandboxSettings, thread_id: str) -> str:
    """A deterministic name, so two concurrent first uses cannot start two containers."""
    return f"sandbox-{scope_of(settings)[:8]}-{thread_id}"


def host_folders(settings: SandboxSettings, thread_id: str, user_id: str) -> dict[str, dict[str, str]]:
    """The thread's workspace, artifacts and preview folder and the user's memory folder, created or mounted now, as Docker binds.

    Called before every container start, a stopped session container's too: Docker
    binds the host folder as it is at the start, and a server stop unmounts idle disks.
    """
    return {
        str(ensure_workspace(settings, thread_id, user_id=user_id)): {"bind": WORKSPACE_MOUNT, "mode": "rw"},
        str(ensure_memories(settings, user_id)): {"bind": MEMORIES_MOUNT, "mode": "rw"},
        str(ensure_artifacts(settings, thread_id, user_id=user_id)): {"bind": ARTIFACTS_MOUNT, "mode": "rw"},
        # Relay sockets of previews (`sandbox.previews`): the way in to the app that keeps the network off.
        str(ensure_previews(settings, thread_id)): {"bind": PREVIEWS_MOUNT, "mode": "rw"},
    }


def container_kwargs(
    settings: SandboxSettings,
    *,
    api: Any,  # docker.APIClient; typed loosely because docker-py ships no stubs
    thread_id: str,
    user_id: str,
    mode: SandboxMode,
    image: str,
    command: list[str],
    name: str | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """Arguments for `APIClient.create_container`, hardened as the settings say.

    `user_id` is the thread's owner: their memory folder is mounted read-write at
    `/memories`, so it must come from the run's authentication, never from input.
    `owner` is the lease id of the process that runs (and removes) an ephemeral container.
    """
    binds = host_folders(settings, thread_id, user_id)
    labels = labels_for(settings, thread_id=thread_id, mode=mode, user_id=user_id)
    if owner is not None:
        labels[LABEL_OWNER] = owner
    runner = new_runner_folder(settings) if mode == "session" and settings.command_runner else None
    return hardened_kwargs(settings, api=api, binds=binds, labels=labels, image=image, command=command, name=name, runner=runner)


def hardened_kwargs(
    settings: SandboxSettings,
    *,
    api: Any,
    binds: dict[str, dict[str, str]],
    labels: dict[str, str],
    image: str,
    command: list[str],
    name: str | None,
    runner: RunnerFolder | None = None,
) -> dict[str, Any]:
    """`create_container` arguments around the given binds and labels: every container's one hardening.

    Shared by thread containers and pooled ones (`sandbox.containers.warm_pool`), which receive
    their folders later; `/shared` is added here for both. With a `runner` folder the
    container's own processes are root with `RUNNER_CAPS` only, so its command runner can start
    commands as the sandbox user (`sandbox.containers.runner_spec`).
    """
    binds = dict(binds)
    if settings.shared_dir.is_dir():
        binds[str(settings.shared_dir)] = {"bind": SHARED_MOUNT, "mode": "ro"}
    labels = dict(labels)
    if runner is not None:
        binds.update(runner_binds(runner))
        labels[LABEL_RUNNER] = runner.token
    host_config = api.create_host_config(
        binds=binds,
        network_mode="bridge" if settings.network else "none",
        mem_limit=settings.memory_bytes,
        memswap_limit=settings.memory_bytes,
        nano_cpus=int(settings.cpus * 1e9),
        pids_limit=settings.pids_limit,
        cap_drop=["ALL"],
        cap_add=list(RUNNER_CAPS) if runner is not None else None,
        security_opt=["no-new-privileges"],
        init=True,
        read_only=True,
        tmpfs={TMP_MOUNT: f"rw,nosuid,nodev,size={settings.tmpfs_bytes},mode=1777"},
        log_config={"type": "json-file", "config": {"max-size": str(settings.max_output_bytes * 2 + 65536)}},
    )
    return {
        "image": image,
        "entrypoint": list(NO_ENTRYPOINT),
        "command": command,
        "user": RUNNER_USER if runner is not None else f"{settings.uid}:{settings.gid}",
        "working_dir": WORKSPACE_MOUNT,
        "environment": sandbox_environment(),
        "labels": labels,
        "host_config": host_config,
        "network_disabled": not settings.network,
        "name": name,
    }


def sandbox_environment() -> dict[str, str]:
    """The only variables a sandbox sees: never anything from the server's environment.

    `PYTHONUNBUFFERED` makes Python's output reach the live stream as it is printed.
    """
    return {"PATH": SANDBOX_PATH, "HOME": TMP_MOUNT, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
