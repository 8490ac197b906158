"""deepagents' file-tool protocol (`BackendProtocol`), answered on the host by `sandbox.files.file_tools.HostFiles`.

`HostFiles` does the work, synchronously, for one thread; this mixin is what
deepagents calls: each protocol method (sync and async) resolves the thread's
`HostFiles` on the caller's context, notes successful writes (the audit of
deepagents' own files), and runs the blocking work off the event loop.
`DockerSandbox` inherits it and gives `off_loop` a pool of its own.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Callable
from typing import override

from deepagents.backends.protocol import (
    BackendProtocol,
    DeleteResult,
    EditResult,
    FileDownloadResponse,
    FileUploadResponse,
    GlobResult,
    GrepResult,
    LsResult,
    ReadResult,
    WriteResult,
)

from sandbox.files.file_tools import HostFiles

WriteNote = Callable[[str, int | None, str], None]
"""`(container path, bytes written or None, operation)`: told after each successful write, edit or upload."""


class HostFileTools(BackendProtocol):
    """deepagents' file-tool methods, answered on the host by `files()`; mixed into `DockerSandbox`.

    Each async method calls `files()` on the caller's context (where the run's
    thread is known) and only then hands the blocking work to a worker thread
    (`off_loop`).
    """

    @abstractmethod
    def files(self) -> HostFiles:
        """The `HostFiles` of the thread this call serves."""

    def wrote(self, path: str, size: int | None, operation: str) -> None:
        """Called after each successful write, edit or upload (a `WriteNote`); nothing to note by default."""

    async def off_loop[**P, T](self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking file work off the event loop; `DockerSandbox` gives it a pool of its own."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    @override
    def ls(self, path: str) -> LsResult:
        return self.files().ls(path)

    @override
    async def als(self, path: str) -> LsResult:
        return await self.off_loop(self.files().ls, path)

    @override
    def read(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        return self.files().read(file_path, offset, limit)

    @override
    async def aread(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        return await self.off_loop(self.files().read, file_path, offset, limit)

    @override
    def write(self, file_path: str, content: str) -> WriteResult:
        return self._write(self.files(), self.wrote, file_path, content)

    @override
    async def awrite(self, file_path: str, content: str) -> WriteResult:
        return await self.off_loop(self._write, self.files(), self.wrote, file_path, content)

    @staticmethod
    def _write(files: HostFiles, wrote: WriteNote, file_path: str, content: str) -> WriteResult:
        result = files.write(file_path, content)
        if result.error is None:
            wrote(file_path, len(content.encode("utf-8")), "write")
        return result

    @override
    def edit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:
        return self._edit(self.files(), self.wrote, file_path, old_string, new_string, replace_all)

    @override
    async def aedit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:
        return await self.off_loop(self._edit, self.files(), self.wrote, file_path, old_string, new_string, replace_all)

    @staticmethod
    def _edit(files: HostFiles, wrote: WriteNote, file_path: str, old_string: str, new_string: str, replace_all: bool) -> EditResult:  # noqa: FBT001, PLR0917 (the protocol's arguments, passed through)
        result = files.edit(file_path, old_string, new_string, replace_all)
        if result.error is None:
            wrote(file_path, None, "edit")
        return result

    @override
    def delete(self, file_path: str) -> DeleteResult:
        return self.files().delete(file_path)

    @override
    async def adelete(self, file_path: str) -> DeleteResult:
        return await self.off_loop(self.files().delete, file_path)

    @override
    def glob(self, pattern: str, path: str | None = None) -> GlobResult:
        return self.files().glob(pattern, path)

    @override
    async def aglob(self, pattern: str, path: str | None = None) -> GlobResult:
        return await self.off_loop(self.files().glob, pattern, path)

    @override
    def grep(self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None) -> GrepResult:
        return self.files().grep(pattern, path, glob, max_count=max_count)

    @override
    async def agrep(self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None) -> GrepResult:
        return await self.off_loop(self.files().grep, pattern, path, glob, max_count=max_count)

    @override
    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        return self._upload(self.files(), self.wrote, files)

    @override
    async def aupload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        return await self.off_loop(self._upload, self.files(), self.wrote, files)

    @staticmethod
    def _upload(host: HostFiles, wrote: WriteNote, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        responses = host.upload_files(files)
        for (path, data), response in zip(files, responses, strict=False):
            if response.error is None:
                wrote(path, len(data), "upload")
        return responses

    @override
    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        return self.files().download_files(paths)

    @override
    async def adownload_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        return await self.off_loop(self.files().download_files, paths)
