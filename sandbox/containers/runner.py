"""Run one command in a sandbox: a fresh container (ephemeral) or an exec (session).

Both paths run the same in-container wrapper (`sandbox.containers.command_wrapper`), so the
timeout and output cap behave identically; only the transport differs. Both read
Docker's output stream while the command runs, so its output can reach a
`LiveOutput` as it is produced; the result is still the whole (capped) output.

The in-container cap is not the only one: a command can write to the container's
output around the wrapper (through `/proc/<pid>/fd`), so the host itself never
keeps more than the cap plus `HOST_READ_SLACK_BYTES` of a stream, and stops the
command when more arrives.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial

import docker
import requests
from docker.errors import APIError, ImageNotFound, NotFound

from sandbox.containers.command_wrapper import KILLED_EXIT_CODE, TIMEOUT_EXIT_CODE, RawResult, capped_request, host_deadline, wrapped_argv
from sandbox.containers.container_spec import WORKSPACE_MOUNT, container_kwargs, sandbox_environment
from sandbox.containers.deployment import SandboxDeployment
from sandbox.containers.runner_socket import RunnerCommand, RunnerUnavailable
from sandbox.disks.workspace import ThreadRef
from sandbox.runs.errors import RunnerLostError
from sandbox.runs.live_output import LiveOutput

logger = logging.getLogger(__name__)

HOST_READ_SLACK_BYTES = 64 * 1024
"""How much more than `SANDBOX_MAX_OUTPUT_BYTES` the host reads of either stream before calling it a flood.

The wrapper's `head -c` passes the cap plus one byte per stream, and its own
diagnostics are a few lines; anything more came around the wrapper."""

FLOOD_STOP_WAIT_SECONDS = 60.0
"""How long a command waits, after its stream ended, for the stop (kill or restart) of its flood to finish."""


def run_ephemeral(
    deployment: SandboxDeployment,
    ref: ThreadRef,
    command: str,
    timeout: int,
    *,
    live: LiveOutput | None = None,
) -> RawResult:
    """Create → attach → start → stream until exit → remove: one fresh container per command (ephemeral mode).

    Attaching before the start means no output is missed and every byte reaches
    `live` as the container writes it.
    """
    settings = deployment.settings
    api = deployment.start()
    deployment.ensure_image(ref.image)
    argv = wrapped_argv(command, timeout_seconds=timeout, max_output_bytes=settings.max_output_bytes)
    kwargs = container_kwargs(
        settings,
        api=api,
        thread_id=ref.thread_id,
        user_id=ref.user_id,
        mode="ephemeral",
        image=ref.image,
        command=argv,
        owner=deployment.lease.id,  # so no other process's sweep removes it while this one runs it
    )
    try:
        container_id = api.create_container(**kwargs)["Id"]
    except ImageNotFound:
        deployment.images.forget(ref.image)
        raise
    try:
        frames = api.attach(container_id, stdout=True, stderr=True, stream=True, logs=True, demux=True)
        try:
            started_at = time.monotonic()
            api.start(container_id)
            with _Deadline(host_deadline(timeout), lambda: api.kill(container_id)) as deadline:
                output = _collect(frames, live, limit=_read_limit(settings.max_output_bytes), on_flood=deadline.flood)
                exit_code: int | None = None
                try:
                    exit_code = api.wait(container_id, timeout=host_deadline(timeout))["StatusCode"]
                except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                    deadline.fire()
                except NotFound:  # removed under the command before Docker reported its exit
                    exit_code = KILLED_EXIT_CODE
            if deadline.fired:
                logger.warning("Sandbox %s outlived its in-container timeout; killed it", container_id[:12])
                exit_code = TIMEOUT_EXIT_CODE
            removed = exit_code == KILLED_EXIT_CODE and not deadline.flooded and _container_went(api, container_id)
            return RawResult.timed(started_at, output, exit_code, container_removed=removed, flooded=deadline.flooded)
        finally:
            frames.close()
    finally:
        try:
            api.remove_container(container_id, force=True)
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code != 409:  # 409: someone else is removing it already
                logger.exception("Could not remove sandbox container %s; the next startup sweep will", container_id[:12])


def run_in_session(
    deployment: SandboxDeployment,
    ref: ThreadRef,
    command: str,
    timeout: int,
    *,
    live: LiveOutput | None = None,
) -> RawResult:
    """Run in the thread's long-lived container (started again once if it vanished), streaming its output.

    Through the container's command runner when it takes the command, else a `docker exec`.
    """
    settings = deployment.settings
    argv = wrapped_argv(command, timeout_seconds=timeout, max_output_bytes=settings.max_output_bytes)
    capped = capped_request(command, timeout_seconds=timeout, max_output_bytes=settings.max_output_bytes)
    for attempt in range(2):
        with deployment.session_container(ref) as container_id:
            started = _runner_command(deployment, container_id, argv, capped)
            if started is not None:
                return _run_via_runner(deployment, container_id, started, timeout, live=live)
            try:
                exec_id = _create_exec(deployment, container_id, argv)
            except APIError as exc:  # 404: removed, 409: stopped, behind our back
                if exc.status_code not in (404, 409) or attempt:
                    raise
                deployment.forget_session(ref.thread_id, container_id)
                continue
            # Still inside the context: the container counts as in use while the command runs.
            return _run_exec(deployment, container_id, exec_id, timeout, live=live)
    msg = "unreachable: the second attempt either returns or raises"
    raise AssertionError(msg)


def _runner_command(deployment: SandboxDeployment, container_id: str, argv: list[str], capped: dict[str, object]) -> RunnerCommand | None:
    """The command started by the container's runner, or None when `docker exec` must run it (runner off, gone or stuck)."""
    if not deployment.settings.command_runner:
        return None
    try:
        return deployment.runners.open(deployment.api, container_id, argv, capped)
    except RunnerUnavailable:
        return None


def _run_via_runner(
    deployment: SandboxDeployment,
    container_id: str,
    command: RunnerCommand,
    timeout: int,
    *,
    live: LiveOutput | None,
) -> RawResult:
    """`_run_exec`'s twin for a command the runner started: the same deadline, caps and exit codes."""
    api = deployment.api

    def stop() -> None:  # as for an exec: restart the container, and with it the runner
        deployment.restart_session(container_id)
        deployment.runners.start_soon(api, container_id)

    started_at = time.monotonic()
    output, stopped = _stream_session(
        deployment,
        container_id,
        command.frames(),
        close=command.close,
        timeout=timeout,
        started_at=started_at,
        stop=stop,
        live=live,
    )
    if stopped is not None:
        return stopped
    exit_code = command.exit_code
    if exit_code is None:  # the stream ended without the runner's exit frame
        if _container_went(api, container_id, settle_seconds=1.0, stopped_counts=True):
            return RawResult.timed(started_at, output, KILLED_EXIT_CODE, container_removed=True)
        deployment.runners.start_soon(api, container_id)
        msg = "the sandbox's command runner stopped while the command ran, so its exit status is unknown; it is being restarted"
        raise RunnerLostError(msg)
    removed = exit_code == KILLED_EXIT_CODE and _container_went(api, container_id, settle_seconds=1.0, stopped_counts=True)
    return RawResult.timed(started_at, output, exit_code, container_removed=removed)


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


def _run_exec(deployment: SandboxDeployment, container_id: str, exec_id: str, timeout: int, *, live: LiveOutput | None) -> RawResult:
    api = deployment.api
    started_at = time.monotonic()
    frames = api.exec_start(exec_id, stream=True, demux=True)
    restart = partial(deployment.restart_session, container_id)
    output, stopped = _stream_session(
        deployment,
        container_id,
        frames,
        close=frames.close,
        timeout=timeout,
        started_at=started_at,
        stop=restart,
        live=live,
    )
    if stopped is not None:
        return stopped
    try:
        exit_code = api.exec_inspect(exec_id).get("ExitCode")
    except NotFound:  # the container went, and its execs with it
        return RawResult.timed(started_at, output, KILLED_EXIT_CODE, container_removed=True)
    # The exec can die before Docker shows the container leaving; an OOM-killed command's stays up.
    removed = exit_code == KILLED_EXIT_CODE and _container_went(api, container_id, settle_seconds=1.0, stopped_counts=True)
    return RawResult.timed(started_at, output, exit_code, container_removed=removed)


def _stream_session(
    deployment: SandboxDeployment,
    container_id: str,
    frames: Iterable[tuple[bytes | None, bytes | None]],
    *,
    close: Callable[[], object],
    timeout: int,
    started_at: float,
    stop: Callable[[], object],
    live: LiveOutput | None,
) -> tuple[bytes, RawResult | None]:
    """Read a session command's streams under its deadline (`stop` restarts the container).

    Both transports (runner and exec) share it, so deadline and flood stay one behaviour: returns
    the output, and the result already when the deadline or an output flood stopped the command.
    """
    limit = _read_limit(deployment.settings.max_output_bytes)
    try:
        with _Deadline(host_deadline(timeout), stop) as deadline:
            output = _collect(frames, live, limit=limit, on_flood=deadline.flood)
    finally:
        close()
    if deadline.flooded:
        logger.warning("Command in session sandbox %s wrote past the output cap; restarted the container", container_id[:12])
        return output, RawResult.timed(started_at, output, KILLED_EXIT_CODE, flooded=True)
    if deadline.fired:
        logger.warning("Command in session sandbox %s outlived its timeout; restarted the container", container_id[:12])
        return output, RawResult.timed(started_at, output, TIMEOUT_EXIT_CODE)
    return output, None


def _container_went(api: docker.APIClient, container_id: str, *, settle_seconds: float = 0.0, stopped_counts: bool = False) -> bool:
    """Whether a SIGKILLed command's container was removed (or, for an exec, stopped) under it, not killed by memory.

    `docker rm -f` marks the container "removing" (shown once it no longer runs)
    or it is gone. An ephemeral container that merely exited is the OOM case; a
    session container that stops within `settle_seconds` of its exec's death was
    stopped or removed by someone else.
    """
    deadline = time.monotonic() + settle_seconds
    while True:
        try:
            state = api.inspect_container(container_id).get("State") or {}
        except NotFound:
            return True
        if state.get("Status") in {"removing", "dead"} or (stopped_counts and not state.get("Running")):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _read_limit(max_output_bytes: int) -> int:
    """Most bytes of one stream the host reads: the in-container cap, plus slack for the wrapper's own lines."""
    return max_output_bytes + 1 + HOST_READ_SLACK_BYTES


def _collect(
    frames: Iterable[tuple[bytes | None, bytes | None]],
    live: LiveOutput | None,
    *,
    limit: int,
    on_flood: Callable[[], object],
) -> bytes:
    """Read Docker's (stdout, stderr) frames to the end: the result, with live output passed on as it comes.

    At most `limit` bytes of stdout are kept. Both streams are capped inside the
    container, so a stream longer than `limit` came around the wrapper: `on_flood`
    stops the command once, and the rest is drained without being kept.
    A broken connection ends the stream like an exit does; the caller asks Docker
    for the exit code and the deadline covers a command that is still running.
    """
    output = bytearray()
    seen = [0, 0]
    flooded = False
    try:
        for stdout, stderr in frames:
            seen[0] += len(stdout or b"")
            seen[1] += len(stderr or b"")
            if stdout and len(output) < limit:
                output += stdout[: limit - len(output)]
            if flooded:
                continue
            if max(seen) > limit:
                flooded = True
                on_flood()
            elif live is not None:
                live.feed(stdout or b"")
    except (requests.exceptions.ConnectionError, OSError):
        logger.warning("Lost the output stream of a sandbox command", exc_info=True)
    return bytes(output)


class _Deadline:
    """Runs `action` once if the block is still running after `seconds` (a kill or restart), or on an output flood."""

    def __init__(self, seconds: float, action: Callable[[], object]) -> None:
        self._action = action
        self._timer = threading.Timer(seconds, self.fire)
        self._timer.daemon = True
        self._lock = threading.Lock()
        self.fired = False
        self.flooded = False
        self._flood_stop: threading.Thread | None = None

    def fire(self) -> None:
        """Act now for the deadline (at most once); Docker errors are logged, the stream's end follows anyway."""
        if self._claim(flood=False):
            self._run_action()

    def flood(self) -> None:
        """Act because the command wrote past the output cap (at most once, and never after the deadline acted).

        From another thread, like the deadline: Docker answers a kill only once the
        container's output is drained, so the reader must keep reading meanwhile.
        """
        if self._claim(flood=True):
            self._flood_stop = threading.Thread(target=self._run_action, name="sandbox-flood-stop", daemon=True)
            self._flood_stop.start()

    def _claim(self, *, flood: bool) -> bool:
        """Mark why the action runs; False when it already ran for either reason."""
        with self._lock:
            if self.fired or self.flooded:
                return False
            if flood:
                self.flooded = True
            else:
                self.fired = True
            return True

    def _run_action(self) -> None:
        try:
            self._action()
        except (APIError, requests.exceptions.RequestException):
            logger.warning("Could not stop a sandbox command (past its deadline or its output cap)", exc_info=True)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Once the stream has ended, a stop (the deadline's or a flood's) has finished too.

        So the thread's next command finds a settled container: the stream ends as
        soon as the container is killed, while a restart is still starting it again.
        """
        self._timer.cancel()
        if self.fired:
            self._timer.join(FLOOD_STOP_WAIT_SECONDS)
        if self._flood_stop is not None:
            self._flood_stop.join(FLOOD_STOP_WAIT_SECONDS)
