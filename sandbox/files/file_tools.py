"""The agent's file tools (`ls`, `read`, `write`, `edit`, `delete`, `glob`, `grep`, up/download).

They run on the host against one thread's bind-mounted directories (`/workspace`,
`/shared`, and its user's `/memories`): going through
`docker exec` for every `read_file` or `grep` would cost a process spawn and a
round trip. Every path goes through the race-free walk in `sandbox.files.fd_walk`, and
every failure becomes agent-facing text through `sandbox.files.path_errors`.

When the server runs as root, each operation also takes on the sandbox user's
filesystem identity for the calling thread only (`sandbox.files.fs_identity`), so the
kernel enforces exactly the permissions the shell has, and created files belong
to the sandbox user.

A new file tool is two methods: its host-side work on `HostFiles` here, and its
deepagents protocol method (sync and async) on `sandbox.files.file_protocol.HostFileTools`,
which `DockerSandbox` inherits. Text handling it needs is in `sandbox.files.text_ops`.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from deepagents.backends.protocol import (
    DeleteResult,
    EditResult,
    FileData,
    FileDownloadResponse,
    FileInfo,
    FileUploadResponse,
    LsResult,
    ReadResult,
    WriteResult,
)
from deepagents.backends.sandbox import MAX_BINARY_BYTES
from deepagents.backends.utils import (
    EMPTY_CONTENT_WARNING,
    _get_backend_read_file_type,
)

from sandbox.disks.workspace import create_workspace_dir
from sandbox.files.canonical import Landing, canonical_path
from sandbox.files.fd_walk import (
    CREATE_FLAGS,
    WRITABLE_ROOTS,
    VPath,
    parse_path,
    read_capped,
    reopen_regular,
    replace_contents,
    rmtree_at,
)
from sandbox.files.file_search import HostSearch, file_info
from sandbox.files.fs_identity import fs_identity, server_identity
from sandbox.files.path_errors import PathError, error_code, message, read_only_error
from sandbox.files.staged_upload import StagedUpload, staging_name
from sandbox.files.text_ops import replace_text, text_window, utf8_or_none
from sandbox.files.walk_session import WalkSession

MAX_TEXT_BYTES = 50 * 1024 * 1024
"""Largest text file `read`/`edit` will load; bigger ones are for grep or the shell."""
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
"""`download_files` holds the whole file in memory, so it refuses anything larger."""


class HostFiles(HostSearch):
    """File operations on one thread's /workspace, the shared /shared and its user's /memories, done on the host."""

    def __init__(
        self,
        workspace_dir: Path,
        shared_dir: Path | None,
        *,
        memories_dir: Path | None = None,
        artifacts_dir: Path | None = None,
        fs_uid: int | None = None,
        fs_gid: int | None = None,
        prepare: Mapping[str, Callable[[bool], object]] | None = None,
    ) -> None:
        """Bind the host dirs behind the roots; `fs_uid`/`fs_gid` are the sandbox user's ids.

        `memories_dir` is the thread's user's memory folder (see `sandbox.disks.memories`);
        without it there is no `/memories`; likewise `artifacts_dir` and `/artifacts`
        (see `sandbox.disks.artifacts`). The ids only take effect when this
        process is root; both or neither. `prepare[root](create)` runs before every
        operation (`create=True` before a write to that root): it mounts the root's
        quota disk (`sandbox.disks.disk_quota`), or creates the dir; a writable root
        without one is created here on its first write.
        """
        if (fs_uid is None) != (fs_gid is None):
            msg = "fs_uid and fs_gid must be given together"
            raise ValueError(msg)
        dirs = {"workspace": workspace_dir, "shared": shared_dir, "memories": memories_dir, "artifacts": artifacts_dir}
        self._dirs = {root: Path(host_dir).absolute() for root, host_dir in dirs.items() if host_dir is not None}
        """Host directory of each root this sandbox has."""
        self._ids = (fs_uid, fs_gid) if fs_uid is not None and fs_gid is not None and os.geteuid() == 0 else None
        self._prepare = dict(prepare or {})

    # --- plumbing ---

    def _parse(self, path: object) -> VPath:
        """Normalise a container path; refuse relative, `..`, and anything off the roots."""
        return parse_path(path, roots=self._dirs.keys())

    def _parse_writable(self, path: object) -> VPath:
        vp = self._parse(path)
        if vp.root is not None and vp.root not in WRITABLE_ROOTS:
            raise read_only_error(vp.raw)
        return vp

    def _open_root(self, name: str, *, create: bool) -> int | None:
        """Prepare root `name` (mount its disk; with `create`, make it) and open it; None if it does not exist.

        Runs with the server's own credentials: the container user needs no rights on
        the host dirs *above* the mounts, so neither do we; from the root down the
        kernel checks the sandbox user's rights.
        """
        prepare = self._prepare.get(name)
        if prepare is not None:
            prepare(create)
        elif create and name in WRITABLE_ROOTS:
            create_workspace_dir(self._dirs[name], self._ids)
        try:
            return os.open(self._dirs[name], os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def _session(self, root: str | None, *, create: bool = False) -> Iterator[WalkSession]:
        """A walk session for one operation that starts at `root`, as the sandbox user; `create` makes `root` if missing.

        `root` is prepared and opened first, before the switch to the sandbox user; any
        other root when the walk reaches it (a symlink into `/memories`, a search from
        `/`), not before. A workspace or memory folder is created (0o700, owned by the
        sandbox user) on its first write, never on a read, so a user without memories
        reads as "not found"; a folder with a disk quota is mounted first, reads included.
        """

        def open_root(name: str) -> int | None:
            return self._open_root(name, create=create and name == root)

        first = {root: open_root(root)} if root in self._dirs else {}  # with the server's own credentials: no switch yet
        groups = os.getgroups()  # the server's own, read before the switch: roots reached later are opened as the server too
        session = WalkSession(self._dirs, open_root if self._ids is None else lambda name: _as_server(groups, open_root, name), first)
        try:
            with fs_identity(*self._ids) if self._ids is not None else contextlib.nullcontext():
                yield session
        finally:
            session.close()

    def _write_bytes(self, s: WalkSession, vp: VPath, data: bytes) -> None:
        """Create or overwrite `vp` (all or nothing), creating parent directories."""
        for _ in range(3):
            target = s.resolve(vp, mkdirs=True)
            if target.root not in WRITABLE_ROOTS:
                raise read_only_error(vp.raw)
            if target.name is None or target.parent is None:
                raise IsADirectoryError(errno.EISDIR, "Is a directory")
            created = target.fd is None
            if target.fd is not None:
                fd = reopen_regular(target.fd, os.O_WRONLY)
            else:
                try:
                    fd = os.open(target.name, CREATE_FLAGS, 0o644, dir_fd=target.parent)
                except FileExistsError:
                    continue  # appeared since we looked: resolve again
            try:
                replace_contents(fd, data)
            except OSError:
                if created:  # a file that could not be written is not left behind empty
                    with contextlib.suppress(OSError):
                        os.unlink(target.name, dir_fd=target.parent)
                raise
            finally:
                os.close(fd)
            return
        raise PathError(f"Path '{vp.raw}' kept changing while being written; try again")

    # --- public API ---

    def canonical(self, path: str, *, follow_last: bool = True) -> Landing:
        """Where `path` lands after this walk (symlinks in the roots, `..`): what permission rules match."""
        vp = self._parse(path)
        if vp.root is None:
            return Landing("/", is_dir=True)
        with self._session(vp.root) as s:
            return canonical_path(s, vp, follow_last=follow_last)

    def ls(self, path: str) -> LsResult:
        """List the direct children of a directory; symlinks are listed, not followed."""
        try:
            vp = self._parse(path)
            if vp.root is None:
                return LsResult(entries=self._ls_roots())
            with self._session(vp.root) as s:
                if vp.root in WRITABLE_ROOTS and not vp.parts and s.root(vp.root) is None:
                    return LsResult(entries=[])  # not created yet: empty, as in the container
                target = s.resolve(vp)
                if target.fd is None:
                    raise FileNotFoundError(errno.ENOENT, "No such file or directory")
                if not stat.S_ISDIR(os.fstat(target.fd).st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
                return LsResult(entries=self._ls_dir(target.fd, vp.text))
        except FileNotFoundError:
            return LsResult(error=f"Path '{path}': path_not_found")
        except NotADirectoryError:
            return LsResult(error=f"Path '{path}': not_a_directory")
        except Exception as exc:
            return LsResult(error=message("Cannot list", path, exc))

    def _ls_roots(self) -> list[FileInfo]:
        entries: list[FileInfo] = []
        for root, host_dir in sorted(self._dirs.items()):
            try:
                entries.append(file_info(f"/{root}", os.stat(host_dir)))
            except OSError:
                entries.append({"path": f"/{root}", "is_dir": True, "size": 0})
        return entries

    @staticmethod
    def _ls_dir(opath_fd: int, vdir: str) -> list[FileInfo]:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=opath_fd)
        try:
            with os.scandir(fd) as it:
                entries: list[FileInfo] = []
                for entry in it:
                    vpath = f"{vdir}/{entry.name}"
                    try:
                        entries.append(file_info(vpath, entry.stat(follow_symlinks=False)))
                    except OSError:
                        entries.append({"path": vpath, "is_dir": entry.is_dir(follow_symlinks=False)})
        finally:
            os.close(fd)
        return sorted(entries, key=lambda e: e["path"])

    def read(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        """Read a window of a text file, or a whole binary file as base64 (like BaseSandbox)."""
        try:
            vp = self._parse(file_path)
            with self._session(vp.root) as s:
                fd = s.open_file(vp, os.O_RDONLY)
                try:
                    return self._read_fd(fd, file_path, offset, limit)
                finally:
                    os.close(fd)
        except Exception as exc:
            return ReadResult(error=message("File", file_path, exc))

    @staticmethod
    def _read_fd(fd: int, file_path: str, offset: int, limit: int) -> ReadResult:
        """Apply BaseSandbox's read rules to an open regular file."""
        binary = _get_backend_read_file_type(file_path) != "text"
        cap = MAX_BINARY_BYTES if binary else MAX_TEXT_BYTES
        raw = read_capped(fd, cap) if os.fstat(fd).st_size <= cap else None
        if raw is None and not binary:
            return ReadResult(error=f"File '{file_path}' is larger than {MAX_TEXT_BYTES} bytes; use grep or the shell to inspect it")
        if raw is not None and not raw:
            return ReadResult(file_data=FileData(content=EMPTY_CONTENT_WARNING, encoding="utf-8"))
        text = None if binary or raw is None else utf8_or_none(raw)
        if text is not None:
            return text_window(text, offset, limit)
        if raw is None or len(raw) > MAX_BINARY_BYTES:  # binary, or text that is not UTF-8
            return ReadResult(error=f"File '{file_path}': Binary file exceeds maximum preview size of {MAX_BINARY_BYTES} bytes")
        return ReadResult(file_data=FileData(content=base64.standard_b64encode(raw).decode("ascii"), encoding="base64"))

    def write(self, file_path: str, content: str) -> WriteResult:
        """Create or overwrite a UTF-8 file under /workspace or /memories, creating parent dirs."""
        try:
            vp = self._parse_writable(file_path)
            data = content.encode("utf-8")
            with self._session(vp.root, create=True) as s:
                self._write_bytes(s, vp, data)
            return WriteResult(path=file_path)
        except Exception as exc:
            return WriteResult(error=message("Error writing", file_path, exc))

    def edit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:  # noqa: FBT001, FBT002 (protocol signature)
        """Replace exact text in a UTF-8 file, in place through one O_RDWR fd."""
        try:
            vp = self._parse_writable(file_path)
            with self._session(vp.root) as s:
                target = s.resolve(vp)
                if target.root not in WRITABLE_ROOTS:
                    raise read_only_error(vp.raw)
                if target.fd is None:
                    raise FileNotFoundError(errno.ENOENT, "No such file or directory")
                fd = reopen_regular(target.fd, os.O_RDWR)
                try:
                    raw = read_capped(fd, MAX_TEXT_BYTES)
                    if raw is None:
                        return EditResult(error=f"Error editing '{file_path}': file is larger than {MAX_TEXT_BYTES} bytes")
                    result = replace_text(raw.decode("utf-8"), old_string, new_string, replace_all=replace_all)
                    if isinstance(result, str):
                        return EditResult(error=result)
                    new_text, occurrences = result
                    replace_contents(fd, new_text.encode("utf-8"))
                finally:
                    os.close(fd)
            return EditResult(path=file_path, occurrences=int(occurrences))
        except Exception as exc:
            return EditResult(error=message("Error editing", file_path, exc))

    def delete(self, file_path: str) -> DeleteResult:
        """Delete a file, symlink (the link itself) or directory tree under /workspace or /memories."""
        try:
            vp = self._parse_writable(file_path)
            if not vp.parts:
                return DeleteResult(error=f"Refusing to delete '{file_path}': it is a root of the sandbox filesystem")
            with self._session(vp.root) as s:
                target = s.resolve(vp, follow_last=False)
                if target.root not in WRITABLE_ROOTS:
                    raise read_only_error(vp.raw)
                if target.parent is None or target.name is None:
                    raise IsADirectoryError(errno.EISDIR, "Is a directory")
                st = os.stat(target.name, dir_fd=target.parent, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    rmtree_at(target.parent, target.name)
                else:
                    os.unlink(target.name, dir_fd=target.parent)
            return DeleteResult(path=file_path)
        except Exception as exc:
            return DeleteResult(error=message("Error deleting", file_path, exc))

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        """Write raw bytes per file; per-file errors are `FileOperationError` literals."""
        responses: list[FileUploadResponse] = []
        for path, content in files:
            try:
                vp = self._parse_writable(path)
                if not isinstance(content, (bytes, bytearray, memoryview)):
                    responses.append(FileUploadResponse(path=path, error=f"Error: content must be bytes, got {type(content).__name__}"))
                    continue
                with self._session(vp.root, create=True) as s:
                    self._write_bytes(s, vp, bytes(content))
                responses.append(FileUploadResponse(path=path))
            except Exception as exc:
                responses.append(FileUploadResponse(path=path, error=error_code(exc)))
        return responses

    def stage_upload(self, path: str) -> StagedUpload:
        """Start a streamed upload to `path` (parents created); raises like the other operations.

        The target, if it exists, must be a regular file; it is replaced only by
        `StagedUpload.commit`, so an upload that stops midway leaves nothing behind.
        """
        vp = self._parse_writable(path)
        with self._session(vp.root, create=True) as s:
            target = s.resolve(vp, mkdirs=True)
            if target.root not in WRITABLE_ROOTS:
                raise read_only_error(vp.raw)
            if target.name is None or target.parent is None:
                raise IsADirectoryError(errno.EISDIR, "Is a directory")
            if target.fd is not None:
                mode = os.fstat(target.fd).st_mode
                if stat.S_ISDIR(mode):
                    raise IsADirectoryError(errno.EISDIR, "Is a directory")
                if not stat.S_ISREG(mode):
                    raise PathError("not a regular file (FIFO, socket or device)")
            staging = staging_name()
            fd = os.open(staging, CREATE_FLAGS, 0o644, dir_fd=target.parent)
            return StagedUpload(fd=fd, dir_fd=os.dup(target.parent), staging=staging, name=target.name)

    def open_download(self, path: str) -> tuple[int, int]:
        """Open a regular file for a streamed download: (fd, size); the caller closes the fd."""
        vp = self._parse(path)
        with self._session(vp.root) as s:
            fd = s.open_file(vp, os.O_RDONLY)
        return fd, os.fstat(fd).st_size

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        """Read raw bytes per file; per-file errors are `FileOperationError` literals."""
        responses: list[FileDownloadResponse] = []
        for path in paths:
            try:
                vp = self._parse(path)
                with self._session(vp.root) as s:
                    fd = s.open_file(vp, os.O_RDONLY)
                    try:
                        data = read_capped(fd, MAX_DOWNLOAD_BYTES)
                    finally:
                        os.close(fd)
                if data is None:
                    too_big = f"Error: file is larger than the {MAX_DOWNLOAD_BYTES} byte download limit"
                    responses.append(FileDownloadResponse(path=path, error=too_big))
                else:
                    responses.append(FileDownloadResponse(path=path, content=data))
            except Exception as exc:
                responses.append(FileDownloadResponse(path=path, error=error_code(exc)))
        return responses


def _as_server(groups: list[int], open_root: Callable[[str], int | None], name: str) -> int | None:
    """`open_root(name)` with the server's own file identity, from inside the sandbox user's."""
    with server_identity(groups):
        return open_root(name)
