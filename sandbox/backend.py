"""`DockerSandbox`: the deepagents sandbox backend, for one thread or for whichever thread is running.

Commands run in Docker (`sandbox.containers.runner`); file tools run on the host against the
same bind-mounted directories (`sandbox.files.file_protocol.HostFileTools`, inherited), which is both faster than a
container round trip and the only way to make symlink checks race-free.

Built with a thread id, it serves that thread (tests, scripts, notebooks)::

    from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
    deployment = SandboxDeployment(SandboxSettings.from_env())
    box = DockerSandbox("my-thread", deployment)
    box.execute("python3 --version")

Built without one (`DockerSandbox.for_runs(deployment)`, as the graph does), it
resolves the thread, the user and the image from the running LangGraph run on
every call (`sandbox.runs.run_context`), since deepagents takes one backend instance
per graph.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from contextvars import ContextVar
from functools import lru_cache
from typing import override

import requests
from deepagents.backends.protocol import (
    ExecuteOffloadResult,
    ExecuteResponse,
)
from deepagents.backends.sandbox import BaseSandbox
from docker.errors import APIError, DockerException

from config.identity import SINGLE_USER_ID
from sandbox.containers.command_wrapper import to_execute_response
from sandbox.containers.deployment import SandboxDeployment
from sandbox.containers.runner import run_ephemeral, run_in_session
from sandbox.coordination.user_caps import running_slot
from sandbox.disks.artifacts import artifacts_path, is_artifact, prepare_artifacts
from sandbox.disks.memories import memories_path, prepare_memories
from sandbox.disks.workspace import ThreadRef, prepare_workspace, workspace_full_note, workspace_path
from sandbox.files.file_protocol import HostFileTools
from sandbox.files.file_tools import HostFiles
from sandbox.metrics import events as metrics
from sandbox.runs.audit import audit_log
from sandbox.runs.capture_offload import fits_inline, preview_command, staged_path, with_outcome_of
from sandbox.runs.errors import SandboxError, UserCapError
from sandbox.runs.live_output import LiveOutput, live_output_sink
from sandbox.runs.log_context import command_scope, current_command_id
from sandbox.runs.run_context import current_thread_ref

logger = logging.getLogger(__name__)

_SANDBOX_FAILURES = (SandboxError, requests.exceptions.ConnectionError, APIError, DockerException)
"""Failures that mean a command could not run; reported to the agent, never raised."""

_IN_OFFLOAD_CALL: ContextVar[bool] = ContextVar("sandbox_in_offload_call", default=False)
"""Set while an offload previews a command's output, so that preview is not audited as a command of its own."""

_CACHED_THREADS = 4096
"""How many threads' `HostFiles` a run-resolving backend keeps built."""


def failure_result(ref: ThreadRef, exc: Exception) -> ExecuteResponse:
    """The tool result for a command that could not run: no exit code, the reason in words."""
    if isinstance(exc, SandboxError):
        reason = str(exc)
    elif isinstance(exc, requests.exceptions.ConnectionError):
        reason = f"lost the connection to Docker ({exc})."
    else:
        logger.warning("Docker refused a sandbox call for thread %s: %s", ref.thread_id, exc)
        reason = f"Docker refused the command: {exc}"
    return ExecuteResponse(output=f"Sandbox error: {reason}", exit_code=None)


class DockerSandbox(HostFileTools, BaseSandbox):
    """A thread's sandbox: `/workspace` is `workspaces/<thread_id>/`, `/shared` is read-only.

    `thread_id=None` means "the thread of the current run", looked up per call.
    """

    enable_capture_offload = True  # our images have sh, head, tail and wc

    def __init__(
        self,
        thread_id: str | None,
        deployment: SandboxDeployment,
        *,
        image: str | None = None,
        user_id: str = SINGLE_USER_ID,
    ) -> None:
        self.deployment = deployment
        self._fixed = (
            None if thread_id is None else ThreadRef(user_id=user_id, thread_id=thread_id, image=image or deployment.settings.image)
        )
        self._files_for = lru_cache(maxsize=_CACHED_THREADS)(self._build_files)

    @classmethod
    def for_runs(cls, deployment: SandboxDeployment) -> DockerSandbox:
        """One backend for a whole graph: each call serves the thread of the run making it."""
        return cls(None, deployment)

    # -- who this call is for ----------------------------------------------------

    def thread(self) -> ThreadRef:
        """The (user, thread, image) this call serves; raises `SandboxError` outside a run when unbound."""
        if self._fixed is not None:
            return self._fixed
        return current_thread_ref(default_image=self.deployment.settings.image)

    @property
    def thread_id(self) -> str:
        """The served thread's id (per call when built without one)."""
        return self.thread().thread_id

    @property
    def user_id(self) -> str:
        """The served run's user id: authenticated identity, or `SINGLE_USER_ID`."""
        return self.thread().user_id

    @property
    def image(self) -> str:
        """The image the served thread's commands run in."""
        return self.thread().image

    @property
    @override
    def id(self) -> str:
        """Stable per thread, so logs and traces can be correlated."""
        try:
            return f"docker-sandbox:{self.thread().thread_id}"
        except SandboxError:
            return "docker-sandbox:unbound"

    def _build_files(self, user_id: str, thread_id: str) -> HostFiles:
        settings = self.deployment.settings
        return HostFiles(
            workspace_path(settings, thread_id),
            settings.shared_dir,
            memories_dir=memories_path(settings, user_id),
            artifacts_dir=artifacts_path(settings, thread_id),
            fs_uid=settings.uid,
            fs_gid=settings.gid,
            prepare={
                "workspace": lambda create: prepare_workspace(settings, thread_id, create=create, user_id=user_id),
                "memories": lambda create: prepare_memories(settings, user_id, create=create),
                "artifacts": lambda create: prepare_artifacts(settings, thread_id, create=create, user_id=user_id),
            },
        )

    @override
    def files(self) -> HostFiles:
        """The host-side file tools of the served thread (and of its user's `/memories`)."""
        ref = self.thread()
        return self._files_for(ref.user_id, ref.thread_id)

    @override
    def wrote(self, path: str, size: int | None, operation: str) -> None:
        """Audit every write under `/artifacts`: deepagents makes those by itself, with no approval to log."""
        if is_artifact(path):
            ref = self.thread()
            log = audit_log(self.deployment.settings)
            log.artifact(user_id=ref.user_id, thread_id=ref.thread_id, path=path, size=size, operation=operation)

    # -- commands ------------------------------------------------------------

    def _effective_timeout(self, timeout: int | None) -> int:
        return self.deployment.settings.effective_timeout(timeout)

    @override
    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        """Run `command` with `/workspace` as working directory; never raises for sandbox failures.

        While a live-output sink is set (`sandbox.runs.live_output.streaming_to`), the
        command's output also reaches it as it is produced.
        """
        ref = self.thread()
        with command_scope(user_id=ref.user_id, thread_id=ref.thread_id):
            return self._execute(ref, command, timeout)

    @override
    async def aexecute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        """Docker calls block for as long as the command runs: they run on the command pool.

        Never on the event loop, and never on asyncio's default executor, whose few
        threads the server needs for everyone's requests (`sandbox.coordination.fair_pool`). A
        user who already holds their share of the pool is refused, like past
        `SANDBOX_MAX_RUNNING_PER_USER`.
        """
        ref, started = self.thread(), time.monotonic()
        with command_scope(user_id=ref.user_id, thread_id=ref.thread_id):  # the pool copies it into the worker
            try:
                return await self.deployment.commands.run(ref.user_id, self._execute, ref, command, timeout)
            except UserCapError as exc:
                failure = failure_result(ref, exc)
                await asyncio.to_thread(self._audit, ref, command, failure, started)
                return failure

    @override
    async def off_loop[**P, T](self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """File work runs on the deployment's file pool, shared fairly by users, apart from commands."""
        return await self.deployment.file_work.run(self.thread().user_id, fn, *args, **kwargs)

    def _execute(self, ref: ThreadRef, command: str, timeout: int | None) -> ExecuteResponse:
        settings = self.deployment.settings
        seconds = self._effective_timeout(timeout)
        run = run_in_session if settings.mode == "session" else run_ephemeral
        started = time.monotonic()
        sink = live_output_sink.get()
        metrics.command_started(settings.mode)
        try:
            with running_slot(settings, ref.user_id), LiveOutput(sink) if sink is not None else nullcontext() as live:
                raw = run(self.deployment, ref, command, seconds, live=live)
        except _SANDBOX_FAILURES as exc:
            metrics.command_ended(settings.mode, "failed", time.monotonic() - started)
            failure = failure_result(ref, exc)
            self._audit(ref, command, failure, started)
            return failure
        response = to_execute_response(
            raw,
            timeout_seconds=seconds,
            max_output_bytes=settings.max_output_bytes,
            memory_bytes=settings.memory_bytes,
        )
        metrics.command_ended(settings.mode, metrics.command_outcome(raw, response.exit_code, seconds), time.monotonic() - started)
        note = workspace_full_note(settings, ref.thread_id)
        if note:
            response.output = f"{response.output.rstrip(chr(10))}\n{note}" if response.output else note
        self._audit(ref, command, response, started)
        return response

    def _audit(self, ref: ThreadRef, command: str, response: ExecuteResponse, started: float) -> None:
        """Append the command to `SANDBOX_AUDIT_LOG`: each command the agent asked for, not the offload's preview of its output."""
        if _IN_OFFLOAD_CALL.get():
            return
        duration_ms = (time.monotonic() - started) * 1000
        logger.info("Sandbox command finished: exit code %s after %.0f ms", response.exit_code, duration_ms)
        audit_log(self.deployment.settings).command(
            user_id=ref.user_id,
            thread_id=ref.thread_id,
            command=command,
            exit_code=response.exit_code,
            duration_ms=duration_ms,
            error=response.output if response.exit_code is None else None,
            command_id=current_command_id(),
        )

    @override
    def execute_with_offload(
        self,
        command: str,
        capture_path: str,
        *,
        max_inline_bytes: int,
        max_capture_bytes: int | None = None,
        timeout: int | None = None,
    ) -> ExecuteOffloadResult:
        """Run deepagents' capture offload, its wrapper only for output past the inline budget (`sandbox.runs.capture_offload`).

        The command itself runs like any `execute` (audited, with live output as it is
        produced); a command that could not run at all is reported as it is.
        """
        response = self.execute(command, timeout=timeout)
        if response.exit_code is None or fits_inline(response, max_inline_bytes):
            return ExecuteOffloadResult(offloaded=False, response=response)
        return self._offload(response, capture_path, max_inline_bytes, max_capture_bytes)

    @override
    async def aexecute_with_offload(
        self,
        command: str,
        capture_path: str,
        *,
        max_inline_bytes: int,
        max_capture_bytes: int | None = None,
        timeout: int | None = None,
    ) -> ExecuteOffloadResult:
        """Async version of `execute_with_offload`: the offload's file work and preview run on the command pool."""
        response = await self.aexecute(command, timeout=timeout)
        if response.exit_code is None or fits_inline(response, max_inline_bytes):
            return ExecuteOffloadResult(offloaded=False, response=response)
        ref = self.thread()
        try:
            return await self.deployment.commands.run(
                ref.user_id, self._offload, response, capture_path, max_inline_bytes, max_capture_bytes
            )
        except UserCapError:
            return ExecuteOffloadResult(offloaded=False, response=response)  # deepagents evicts a big inline result itself

    def _offload(
        self, response: ExecuteResponse, capture_path: str, max_inline_bytes: int, max_capture_bytes: int | None
    ) -> ExecuteOffloadResult:
        """Stage the whole output in the sandbox and let deepagents' wrapper save it at `capture_path` and preview it."""
        ref = self.thread()
        staged = staged_path(capture_path)
        [upload] = self.files().upload_files([(staged, response.output.encode("utf-8", errors="surrogateescape"))])
        if upload.error is not None:
            logger.warning("Could not stage the output of a command of thread %s for offloading: %s", ref.thread_id, upload.error)
            return ExecuteOffloadResult(offloaded=False, response=response)
        quiet, silent = _IN_OFFLOAD_CALL.set(True), live_output_sink.set(None)  # the preview is no command of the agent's
        try:
            preview = super().execute_with_offload(
                preview_command(staged), capture_path, max_inline_bytes=max_inline_bytes, max_capture_bytes=max_capture_bytes
            )
        finally:
            _IN_OFFLOAD_CALL.reset(quiet)
            live_output_sink.reset(silent)
        result = with_outcome_of(preview, response)
        self._audit_capture(ref, capture_path, result)
        return result

    def _audit_capture(self, ref: ThreadRef, capture_path: str, result: ExecuteOffloadResult) -> None:
        """The command itself wrote its full output under `/artifacts`: audited like deepagents' own writes."""
        if result.offloaded and is_artifact(capture_path):
            log = audit_log(self.deployment.settings)
            log.artifact(user_id=ref.user_id, thread_id=ref.thread_id, path=capture_path, size=None, operation="execute capture")
