"""`ThreadRoutedSandbox`: one backend instance for the graph, one sandbox per thread.

deepagents 0.7 takes a backend *instance*, not a factory, yet each LangGraph
thread needs its own workspace and container. This backend looks up the current
run's `thread_id` (and optional `sandbox_image` from the run context) on every
call and forwards to that thread's `DockerSandbox`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

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
from langgraph.config import get_config
from langgraph.runtime import get_runtime

from sandbox.backend import DockerSandbox
from sandbox.deployment import SandboxDeployment
from sandbox.errors import SandboxError

_CACHED_THREADS = 4096


def current_thread_and_image() -> tuple[str, str | None]:
    """Read the thread id and any per-run image override from LangGraph's context."""
    try:
        config = get_config()
    except RuntimeError:
        config = {}
    thread_id = (config.get("configurable") or {}).get("thread_id")
    if not thread_id:
        msg = "no LangGraph thread is active: run the agent on a thread, or build DockerSandbox(thread_id, deployment) directly"
        raise SandboxError(msg)
    return str(thread_id), _image_from_context()


def _image_from_context() -> str | None:
    try:
        context: Any = get_runtime().context
    except (RuntimeError, LookupError, AttributeError):
        return None
    image = context.get("sandbox_image") if isinstance(context, dict) else getattr(context, "sandbox_image", None)
    return str(image) if image else None


class ThreadRoutedSandbox(BaseSandbox):
    """Forwards every call to the sandbox of the thread that is running now."""

    enable_capture_offload = True

    def __init__(self, deployment: SandboxDeployment) -> None:
        self.deployment = deployment
        self._sandbox_for = lru_cache(maxsize=_CACHED_THREADS)(self._build)

    def _build(self, thread_id: str, image: str | None) -> DockerSandbox:
        return DockerSandbox(thread_id, self.deployment, image=image)

    def current(self) -> DockerSandbox:
        """The sandbox of the current thread (raises `SandboxError` outside a run)."""
        return self._sandbox_for(*current_thread_and_image())

    @property
    def id(self) -> str:  # noqa: D102
        try:
            return self.current().id
        except SandboxError:
            return "docker-sandbox:unbound"

    def execute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:  # noqa: D102
        return self.current().execute(command, timeout=timeout)

    async def aexecute(self, command: str, *, timeout: int | None = None) -> ExecuteResponse:  # noqa: D102, ASYNC109
        return await self.current().aexecute(command, timeout=timeout)

    def execute_with_offload(  # noqa: D102
        self,
        command: str,
        capture_path: str,
        *,
        max_inline_bytes: int,
        max_capture_bytes: int | None = None,
        timeout: int | None = None,
    ) -> ExecuteOffloadResult:
        return self.current().execute_with_offload(
            command, capture_path, max_inline_bytes=max_inline_bytes, max_capture_bytes=max_capture_bytes, timeout=timeout
        )

    async def aexecute_with_offload(  # noqa: D102
        self,
        command: str,
        capture_path: str,
        *,
        max_inline_bytes: int,
        max_capture_bytes: int | None = None,
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> ExecuteOffloadResult:
        return await self.current().aexecute_with_offload(
            command, capture_path, max_inline_bytes=max_inline_bytes, max_capture_bytes=max_capture_bytes, timeout=timeout
        )

    def ls(self, path: str) -> LsResult:  # noqa: D102
        return self.current().ls(path)

    async def als(self, path: str) -> LsResult:  # noqa: D102
        return await self.current().als(path)

    def read(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:  # noqa: D102
        return self.current().read(file_path, offset, limit)

    async def aread(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:  # noqa: D102
        return await self.current().aread(file_path, offset, limit)

    def write(self, file_path: str, content: str) -> WriteResult:  # noqa: D102
        return self.current().write(file_path, content)

    async def awrite(self, file_path: str, content: str) -> WriteResult:  # noqa: D102
        return await self.current().awrite(file_path, content)

    def edit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:  # noqa: D102, FBT001, FBT002
        return self.current().edit(file_path, old_string, new_string, replace_all)

    async def aedit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:  # noqa: D102, FBT001, FBT002
        return await self.current().aedit(file_path, old_string, new_string, replace_all)

    def delete(self, file_path: str) -> DeleteResult:  # noqa: D102
        return self.current().delete(file_path)

    async def adelete(self, file_path: str) -> DeleteResult:  # noqa: D102
        return await self.current().adelete(file_path)

    def glob(self, pattern: str, path: str | None = None) -> GlobResult:  # noqa: D102
        return self.current().glob(pattern, path)

    async def aglob(self, pattern: str, path: str | None = None) -> GlobResult:  # noqa: D102
        return await self.current().aglob(pattern, path)

    def grep(self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None) -> GrepResult:  # noqa: D102
        return self.current().grep(pattern, path, glob, max_count=max_count)

    async def agrep(self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None) -> GrepResult:  # noqa: D102
        return await self.current().agrep(pattern, path, glob, max_count=max_count)

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:  # noqa: D102
        return self.current().upload_files(files)

    async def aupload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:  # noqa: D102
        return await self.current().aupload_files(files)

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:  # noqa: D102
        return self.current().download_files(paths)

    async def adownload_files(self, paths: list[str]) -> list[FileDownloadResponse]:  # noqa: D102
        return await self.current().adownload_files(paths)
