"""`DockerSandbox`: the deepagents sandbox backend for one thread.

Commands run in Docker (`sandbox.runner`); file tools run on the host against the
same bind-mounted directories (`sandbox.host_files`), which is both faster than a
container round trip and the only way to make symlink checks race-free.

Build one directly for a thread id (tests, scripts, notebooks)::

    from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
    deployment = SandboxDeployment(SandboxSettings.from_env())
    box = DockerSandbox("my-thread", deployment)
    box.execute("python3 --version")

Inside a graph run use `ThreadRoutedSandbox`, which picks the thread per call.
"""

from __future__ import annotations

import asyncio
import logging

import requests
from deepagents.backends.protocol import (
    DeleteResult,
    EditResult,
    ExecuteOffloadResult,
    ExecuteResponse,
    FileDownloadResponse,
    FileUploadResponse,
    GlobResult,
    GrepResult,
    LsResult,
    ReadResult,
    WriteResult,
)
from deepagents.backends.sandbox import BaseSandbox
from docker.errors import APIError, DockerException

from sandbox.command_wrapper import to_execute_response
from sandbox.container_spec import validate_thread_id
from sandbox.deployment import SandboxDeployment
from sandbox.errors import SandboxError
from sandbox.host_files import HostFiles
from sandbox.runner import run_ephemeral, run_in_session

logger = logging.getLogger(__name__)

_SANDBOX_FAILURES = (SandboxError, requests.exceptions.ConnectionError, APIError, DockerException)
"""Failures that mean a command could not run; reported to the agent, never raised."""


class DockerSandbox(BaseSandbox):
    """One thread's sandbox: `/workspace` is `workspaces/<thread_id>/`, `/shared` is read-only."""

    enable_capture_offload = True  # our images have sh, head, tail and wc

    def __init__(self, thread_id: str, deployment: SandboxDeployment, *, image: str | None = None) -> None:
        self.thread_id = validate_thread_id(thread_id)
        self.deployment = deployment
        self.image = image or deployment.settings.image
        settings = deployment.settings
        self.files = HostFiles(
            settings.workspaces_dir / thread_id,
            settings.shared_dir,
            fs_uid=settings.uid,
            fs_gid=settings.gid,
        )

    @property
    def id(self) -> str:
        """Stable per thread, so logs and traces can be correlated."""
        return f"docker-sandbox:{self.thread_id}"

    # -- commands ------------------------------------------------------------

    def _effective_timeout(self, timeout: int | None) -> int:
        settings = self.deployment.settings
        if timeout is None:
            return settings.timeout_seconds
        if timeout <= 0:  # "no timeout" is not offered to an untrusted caller
            return settings.max_timeout_seconds
        return min(int(timeout), settings.max_timeout_seconds)

    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:
        """Run `command` with `/workspace` as working directory; never raises for sandbox failures."""
        settings = self.deployment.settings
        seconds = self._effective_timeout(timeout)
        run = run_in_session if settings.mode == "session" else run_ephemeral
        try:
            raw = run(self.deployment, self.thread_id, self.image, command, seconds)
        except _SANDBOX_FAILURES as exc:
            return self._failure(exc)
        return to_execute_response(
            raw,
            timeout_seconds=seconds,
            max_output_bytes=settings.max_output_bytes,
            memory_bytes=settings.memory_bytes,
        )

    async def aexecute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:  # noqa: ASYNC109
        """Docker calls block, so they run in a worker thread, never on the event loop."""
        return await asyncio.to_thread(self.execute, command, timeout=timeout)

    def _failure(self, exc: Exception) -> ExecuteResponse:
        """The tool result for a command that could not run: no exit code, the reason in words."""
        if isinstance(exc, SandboxError):
            reason = str(exc)
        elif isinstance(exc, requests.exceptions.ConnectionError):
            reason = f"lost the connection to Docker ({exc})."
        else:
            logger.warning("Docker refused a sandbox call for thread %s: %s", self.thread_id, exc)
            reason = f"Docker refused the command: {exc}"
        return ExecuteResponse(output=f"Sandbox error: {reason}", exit_code=None)

    def _cannot_run(self) -> ExecuteResponse | None:
        """Report a missing Docker or image up front (both checks are cached after success)."""
        try:
            self.deployment.ensure_image(self.image)
        except _SANDBOX_FAILURES as exc:
            return self._failure(exc)
        return None

    def execute_with_offload(
        self,
        command: str,
        capture_path: str,
        *,
        max_inline_bytes: int,
        max_capture_bytes: int | None = None,
        timeout: int | None = None,
    ) -> ExecuteOffloadResult:
        """Skip deepagents' capture wrapper when the command cannot run at all.

        Otherwise our plain error text would reach the wrapper's parser, which logs
        it as a malformed capture on every Docker or image failure.
        """
        problem = self._cannot_run()
        if problem is not None:
            return ExecuteOffloadResult(offloaded=False, response=problem)
        return super().execute_with_offload(
            command, capture_path, max_inline_bytes=max_inline_bytes, max_capture_bytes=max_capture_bytes, timeout=timeout
        )

    async def aexecute_with_offload(
        self,
        command: str,
        capture_path: str,
        *,
        max_inline_bytes: int,
        max_capture_bytes: int | None = None,
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> ExecuteOffloadResult:
        """Async version of `execute_with_offload`."""
        problem = await asyncio.to_thread(self._cannot_run)
        if problem is not None:
            return ExecuteOffloadResult(offloaded=False, response=problem)
        return await super().aexecute_with_offload(
            command, capture_path, max_inline_bytes=max_inline_bytes, max_capture_bytes=max_capture_bytes, timeout=timeout
        )

    # -- files: host-side, see sandbox.host_files --------------------------------

    def ls(self, path: str) -> LsResult:  # noqa: D102
        return self.files.ls(path)

    async def als(self, path: str) -> LsResult:  # noqa: D102
        return await asyncio.to_thread(self.files.ls, path)

    def read(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:  # noqa: D102
        return self.files.read(file_path, offset, limit)

    async def aread(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:  # noqa: D102
        return await asyncio.to_thread(self.files.read, file_path, offset, limit)

    def write(self, file_path: str, content: str) -> WriteResult:  # noqa: D102
        return self.files.write(file_path, content)

    async def awrite(self, file_path: str, content: str) -> WriteResult:  # noqa: D102
        return await asyncio.to_thread(self.files.write, file_path, content)

    def edit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:  # noqa: D102, FBT001, FBT002
        return self.files.edit(file_path, old_string, new_string, replace_all)

    async def aedit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:  # noqa: D102, FBT001, FBT002
        return await asyncio.to_thread(self.files.edit, file_path, old_string, new_string, replace_all)

    def delete(self, file_path: str) -> DeleteResult:  # noqa: D102
        return self.files.delete(file_path)

    async def adelete(self, file_path: str) -> DeleteResult:  # noqa: D102
        return await asyncio.to_thread(self.files.delete, file_path)

    def glob(self, pattern: str, path: str | None = None) -> GlobResult:  # noqa: D102
        return self.files.glob(pattern, path)

    async def aglob(self, pattern: str, path: str | None = None) -> GlobResult:  # noqa: D102
        return await asyncio.to_thread(self.files.glob, pattern, path)

    def grep(self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None) -> GrepResult:  # noqa: D102
        return self.files.grep(pattern, path, glob, max_count=max_count)

    async def agrep(self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None) -> GrepResult:  # noqa: D102
        return await asyncio.to_thread(self.files.grep, pattern, path, glob, max_count=max_count)

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:  # noqa: D102
        return self.files.upload_files(files)

    async def aupload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:  # noqa: D102
        return await asyncio.to_thread(self.files.upload_files, files)

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:  # noqa: D102
        return self.files.download_files(paths)

    async def adownload_files(self, paths: list[str]) -> list[FileDownloadResponse]:  # noqa: D102
        return await asyncio.to_thread(self.files.download_files, paths)
