"""Ephemeral (per-command) mode's leftovers: containers whose command's process is gone.

Each command runs in a fresh container that its runner removes; a server process
that dies mid-command cannot. Ephemeral containers carry their process's lease id
(`sandbox.coordination.process_lease`), so the sweep (at startup and every
`SANDBOX_LEASE_TTL` seconds, from any process) removes those of dead processes,
and any older than the longest command could run, never one a live process is
still running a command in.
"""

from __future__ import annotations

import logging
import time

import docker
from docker.errors import APIError, NotFound

from config.sandbox import SandboxSettings
from sandbox.containers.command_wrapper import host_deadline
from sandbox.containers.container_spec import LABEL_MODE, LABEL_OWNER, container_kwargs, label_filter, labels_for, scope_of
from sandbox.coordination.process_lease import owner_alive, sweep_dead_leases
from sandbox.disks.workspace import ThreadRef

logger = logging.getLogger(__name__)

KEEPALIVE = ("sleep", "infinity")
"""The command of a container that only hosts `docker exec`s: it does nothing until removed."""
LEFTOVER_MARGIN_SECONDS = 60
"""An ephemeral container this much older than the longest command is a leftover, whoever made it."""


def sweep_leftovers(settings: SandboxSettings, api: docker.APIClient) -> list[str]:
    """Remove ephemeral containers no live server process runs a command in; their ids.

    A container whose owner (label) is dead goes at once; one with an unknown
    owner (made before owners were labelled) or a live owner only once it is
    older than the longest command could run. Session containers are shared,
    never swept: the idle reaper stops them, retention removes them.
    """
    give_up = host_deadline(settings.max_timeout_seconds) + LEFTOVER_MARGIN_SECONDS
    removed = []
    now = time.time()
    for container in api.containers(all=True, filters=label_filter(labels_for(settings, mode="ephemeral"))):
        age = now - float(container.get("Created") or 0)
        owner_lives = owner_alive(settings, (container.get("Labels") or {}).get(LABEL_OWNER, ""), age=age)
        if owner_lives is not False and age < give_up:
            continue  # its process may still be running the command
        why = "its server process is gone" if owner_lives is False else "older than any command may run"
        logger.warning("Removing leftover sandbox container %s: %s", container["Id"][:12], why)
        try:
            api.remove_container(container["Id"], force=True)
        except NotFound:
            continue
        except APIError:
            logger.warning("Could not remove leftover sandbox container %s", container["Id"][:12], exc_info=True)
            continue
        removed.append(str(container["Id"]))
    sweep_dead_leases(settings)
    return removed


def start_own_container(settings: SandboxSettings, api: docker.APIClient, ref: ThreadRef, *, suffix: str, mode_label: str) -> str:
    """Start a container of its own for one long-lived thing of a thread (a background process, an MCP server); its id.

    Built like a command's (the thread's workspace, mounts, limits, user, no network) and
    labelled with the thread, so thread removal and the reconciler find it, but with its own
    `LABEL_MODE` (`mode_label`), so neither the sweep of leftover commands nor the session caps count it.
    """
    kwargs = container_kwargs(
        settings,
        api=api,
        thread_id=ref.thread_id,
        user_id=ref.user_id,
        mode="ephemeral",
        image=ref.image,
        command=list(KEEPALIVE),
        name=f"sandbox-{scope_of(settings)[:8]}-{ref.thread_id}-{suffix}",
    )
    kwargs["labels"][LABEL_MODE] = mode_label
    container_id = str(api.create_container(**kwargs)["Id"])
    api.start(container_id)
    return container_id
