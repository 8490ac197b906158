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
from sandbox.containers.container_spec import LABEL_OWNER, label_filter, labels_for
from sandbox.coordination.process_lease import owner_alive, sweep_dead_leases

logger = logging.getLogger(__name__)

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
