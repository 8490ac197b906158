"""Run one command in a sandbox: a fresh container (ephemeral) or an exec (session).

Both paths run the same in-container wrapper (`sandbox.command_wrapper`), so the
timeout and output cap behave identically; only the transport differs.
"""

from __future__ import annotations

import logging
import time

import requests
from docker.errors import APIError, ImageNotFound, NotFound

from sandbox.command_wrapper import KILL_GRACE_SECONDS, TIMEOUT_EXIT_CODE, RawResult, wrapped_argv
from sandbox.container_spec import WORKSPACE_MOUNT, container_kwargs, sandbox_environment
from sandbox.deployment import SandboxDeployment
from sandbox.workspace import ThreadRef

logger = logging.getLogger(__name__)

_HOST_DEADLINE_SLACK = 15
"""Seconds past the in-container deadline before the host gives up waiting."""


def run_ephemeral(deployment: SandboxDeployment, ref: ThreadRef, command: str, timeout: int) -> RawResult:
    """Create → start → wait → logs → remove: the seed's per-command container."""
    settings = deployment.settings
    api = deployment.start()
    deployment.ensure_image(ref.image)
    argv = wrapped_argv(command, timeout_seconds=timeout, max_output_bytes=settings.max_output_bytes)
    kwargs = container_kwargs(
        settings, api=api, thread_id=ref.thread_id, user_id=ref.user_id, mode="ephemeral", image=ref.image, command=argv
    )
    try:
        container_id = api.create_container(**kwargs)["Id"]
    except ImageNotFound:
        deployment.images.forget(ref.image)
        raise
    try:
        started_at = time.monotonic()
        api.start(container_id)
        try:
            exit_code: int | None = api.wait(container_id, timeout=timeout + KILL_GRACE_SECONDS + _HOST_DEADLINE_SLACK)["StatusCode"]
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            logger.warning("Sandbox %s outlived its in-container timeout; killing it", container_id[:12])
            api.kill(container_id)
            exit_code = TIMEOUT_EXIT_CODE
        output = api.logs(container_id, stdout=True, stderr=True)
        return RawResult.timed(started_at, output, exit_code)
    finally:
        try:
            api.remove_container(container_id, force=True)
        except NotFound:
            pass
        except APIError:
            logger.exception("Could not remove sandbox container %s; the next startup sweep will", container_id[:12])


def run_in_session(deployment: SandboxDeployment, ref: ThreadRef, command: str, timeout: int) -> RawResult:
    """`docker exec` into the thread's long-lived container (started again once if it vanished)."""
    settings = deployment.settings
    argv = wrapped_argv(command, timeout_seconds=timeout, max_output_bytes=settings.max_output_bytes)
    for attempt in range(2):
        with deployment.session_container(ref) as container_id:
            try:
                exec_id = _create_exec(deployment, container_id, argv)
            except APIError as exc:  # 404: removed, 409: stopped, behind our back
                if exc.status_code not in (404, 409) or attempt:
                    raise
                deployment.forget_session(ref.thread_id, container_id)
                continue
            # Still inside the context: the container counts as in use while the command runs.
            return _run_exec(deployment, container_id, exec_id)
    msg = "unreachable: the second attempt either returns or raises"
    raise AssertionError(msg)


def _create_exec(deployment: SandboxDeployment, container_id: str, argv: list[str]) -> str:
    settings = deployment.settings
    created = deployment.api.exec_create(
        container_id,
        argv,
        user=f"{settings.uid}:{settings.gid}",
        workdir=WORKSPACE_MOUNT,
        environment=sandbox_environment(),
    )
    return str(created["Id"])


def _run_exec(deployment: SandboxDeployment, container_id: str, exec_id: str) -> RawResult:
    api = deployment.api
    started_at = time.monotonic()
    try:
        output = api.exec_start(exec_id)
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        logger.warning("Command in session sandbox %s outlived its timeout; restarting the container", container_id[:12])
        deployment.restart_session(container_id)
        return RawResult.timed(started_at, b"", TIMEOUT_EXIT_CODE)
    exit_code = api.exec_inspect(exec_id).get("ExitCode")
    return RawResult.timed(started_at, output, exit_code)
