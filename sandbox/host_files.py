"""The agent's file tools, run on the host against one thread's bind-mounted dirs.

Going through `docker exec` for every `read_file` or `grep` costs a process spawn
and a round-trip, so the file tools work on the host directories that back the
container's `/workspace` (read-write) and `/shared` (read-only) instead. That is
only safe because the agent may be racing us from inside the container: it can
swap any directory for a symlink at any moment. So no path is ever resolved to a
string and re-opened. We walk from an fd on the root, one component at a time,
with `O_NOFOLLOW`; symlinks are followed only by re-walking their target the way
the container would see it, and only while that target stays inside the two
roots. Regular files are opened by re-opening an `O_PATH` fd through
`/proc/self/fd`, so the type check and the open concern the same inode and a
FIFO or device node is never opened at all.

When the server runs as root, each operation also takes on the sandbox user's
filesystem identity for the calling thread only (`sandbox.fs_identity`), so the
kernel enforces exactly the permissions the shell has, and created files belong
to the sandbox user.

Linux only (`O_PATH`, `/proc/self/fd`, per-thread credentials).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import logging
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from deepagents.backends.protocol import (
    FILE_NOT_FOUND,
    INVALID_PATH,
    IS_DIRECTORY,
    PERMISSION_DENIED,
    DeleteResult,
    EditResult,
    FileData,
    FileDownloadResponse,
    FileInfo,
    FileUploadResponse,
    GlobResult,
    GrepMatch,
    GrepResult,
    LsResult,
    ReadResult,
    WriteResult,
)
from deepagents.backends.sandbox import MAX_BINARY_BYTES
from deepagents.backends.utils import (
    EMPTY_CONTENT_WARNING,
    InvalidGlobPatternError,
    _get_backend_read_file_type,
    compile_grep_include_glob,
    perform_string_replacement,
    slice_read_response,
)

from sandbox.fs_identity import fs_identity

logger = logging.getLogger(__name__)

MAX_TEXT_BYTES = 50 * 1024 * 1024
"""Largest text file `read`/`edit` will load; bigger ones are for grep or the shell."""
MAX_GREP_FILE_BYTES = 10 * 1024 * 1024
"""Files above this are skipped by `grep`, like `FilesystemBackend`."""
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
"""`download_files` holds the whole file in memory, so it refuses anything larger."""
GLOB_TIME_BUDGET = 5.0
GLOB_MAX_MATCHES = 10_000
GREP_TIME_BUDGET = 15.0
MAX_SYMLINK_HOPS = 40
"""The kernel's own limit per lookup; past it we report a loop."""

_ROOTS = ("workspace", "shared")
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class _PathError(Exception):
    """A path we refuse; the message is agent-facing and names only virtual paths."""

    def __init__(self, message: str, code: str = INVALID_PATH) -> None:
        super().__init__(message)
        self.code = code


class _VPath(NamedTuple):
    raw: str
    """The path as the caller wrote it, for messages."""
    text: str
    """Normalised virtual path: `/`, `/workspace`, `/workspace/a/b`."""
    root: str | None
    """`workspace`, `shared`, or None for `/`."""
    parts: tuple[str, ...]
    """Components below the root."""


class _Target(NamedTuple):
    """Where a resolved path landed.

    `parent` and `name` locate the final entry (so it can be created, unlinked or
    renamed without another lookup); `fd` is an `O_PATH` fd on it when it exists.
    `name` is None when the path ends at a directory reached as a whole (a root).
    """

    parent: int | None
    name: str | None
    fd: int | None
    root: str


# --- fd helpers ---------------------------------------------------------------------


def _reopen_regular(opath_fd: int, flags: int) -> int:
    """Open the regular file behind an `O_PATH` fd, without any path lookup.

    Re-opening through `/proc/self/fd` pins the inode we already inspected, so a
    FIFO (which would block) or a device node (whose open has side effects) is
    refused before it is ever opened, and nothing can be swapped in meanwhile.
    """
    st = os.fstat(opath_fd)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise _PathError("not a regular file (FIFO, socket or device)")
    fd = os.open(f"/proc/self/fd/{opath_fd}", flags | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    if not os.path.samestat(st, os.fstat(fd)):
        os.close(fd)
        raise _PathError("file changed while it was opened")
    return fd


def _open_regular_at(dir_fd: int, name: str, flags: int) -> int:
    opath = os.open(name, _PATH_FLAGS, dir_fd=dir_fd)
    try:
        return _reopen_regular(opath, flags)
    finally:
        os.close(opath)


def _read_capped(fd: int, cap: int) -> bytes | None:
    """Read to EOF, or return None once more than `cap` bytes turn up."""
    chunks: list[bytes] = []
    total = 0
    while chunk := os.read(fd, min(1 << 20, cap + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            return None
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _iso(st: os.stat_result) -> str:
    return datetime.fromtimestamp(st.st_mtime, tz=UTC).isoformat()


def _file_info(path: str, st: os.stat_result) -> FileInfo:
    is_dir = stat.S_ISDIR(st.st_mode)
    return {"path": path, "is_dir": is_dir, "size": 0 if is_dir else st.st_size, "modified_at": _iso(st)}


def _rmtree_at(parent_fd: int, name: str) -> None:
    """Remove directory `name` and everything below it, never following a symlink.

    Unlike `shutil.rmtree`, every directory is opened with `O_DIRECTORY|O_NOFOLLOW`,
    so an entry swapped for a symlink (even one to a device) is unlinked, not
    entered. Iterative, so deep trees cannot exhaust the Python stack.
    """
    frames: list[tuple[int, str, int, Iterator[str]]] = []

    def enter(pfd: int, child: str) -> None:
        try:
            fd = os.open(child, _DIR_FLAGS, dir_fd=pfd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            os.unlink(child, dir_fd=pfd)  # swapped for a symlink or file meanwhile: remove the entry itself
            return
        frames.append((pfd, child, fd, iter(os.listdir(fd))))

    try:
        enter(parent_fd, name)
        while frames:
            pfd, dname, fd, children = frames[-1]
            child = next(children, None)
            if child is None:
                frames.pop()
                os.close(fd)
                os.rmdir(dname, dir_fd=pfd)
                continue
            with contextlib.suppress(FileNotFoundError):  # vanished meanwhile: fine
                if stat.S_ISDIR(os.stat(child, dir_fd=fd, follow_symlinks=False).st_mode):
                    enter(fd, child)
                else:
                    os.unlink(child, dir_fd=fd)
    finally:
        for _, _, fd, _ in frames:
            os.close(fd)


class _TreeWalk:
    """Depth-first walk over the regular files below a directory fd.

    Directories are opened `O_DIRECTORY|O_NOFOLLOW` relative to their parent's fd,
    so the walk never leaves the tree and never descends into symlinks. Only as
    many fds are open as the tree is deep. Records why it may be incomplete.
    """

    def __init__(self, top_fd: int, deadline: float, prune: frozenset[str] = frozenset()) -> None:
        self._top_fd = top_fd
        self._deadline = deadline
        self._prune = prune
        self.timed_out = False
        self.unreadable = False

    def files(self) -> Iterator[tuple[int, str, str, os.stat_result]]:
        """Yield `(dir_fd, name, rel_path, lstat)`; `dir_fd` is valid until the next item."""
        frames: list[tuple[int, str, Iterator[os.DirEntry[str]]]] = []
        try:
            self._enter(frames, self._top_fd, ".", "")
            while frames:
                fd, prefix, entries = frames[-1]
                entry = next(entries, None)
                if entry is None:
                    os.close(frames.pop()[0])
                    continue
                if time.monotonic() > self._deadline:
                    self.timed_out = True
                    return
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if entry.name not in self._prune:
                        self._enter(frames, fd, entry.name, f"{prefix}{entry.name}/")
                elif stat.S_ISREG(st.st_mode):
                    yield fd, entry.name, prefix + entry.name, st
        finally:
            for fd, _, _ in frames:
                os.close(fd)

    def _enter(self, frames: list[tuple[int, str, Iterator[os.DirEntry[str]]]], parent_fd: int, name: str, prefix: str) -> None:
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            return
        except OSError:
            self.unreadable = True
            return
        try:
            with os.scandir(fd) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            os.close(fd)
            self.unreadable = True
            return
        frames.append((fd, prefix, iter(entries)))


class _Session:
    """The fds of one operation: both roots, plus everything the walks open."""

    def __init__(self, roots: dict[str, int | None]) -> None:
        self.roots = roots
        self._fds = [fd for fd in roots.values() if fd is not None]

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()

    def root_fd(self, root: str, vp: _VPath) -> int:
        if root not in self.roots:
            raise _escape(vp)
        fd = self.roots[root]
        if fd is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        return fd

    def open_file(self, vp: _VPath, flags: int) -> int:
        """Resolve `vp` and open the regular file it names (following in-root symlinks)."""
        target = self.resolve(vp)
        if target.fd is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        return _reopen_regular(target.fd, flags)

    def resolve(self, vp: _VPath, *, follow_last: bool = True, mkdirs: bool = False) -> _Target:
        """Walk `vp` component by component from its root fd, as the container would.

        Every lookup is `openat(O_PATH|O_NOFOLLOW)` relative to the previous fd, so a
        component swapped for a symlink mid-walk is seen as a symlink, never
        traversed. Symlinks are expanded by re-walking their target: absolute targets
        are container paths (only `/workspace/...` and `/shared/...` lead anywhere),
        relative ones continue from the link's directory, and `..` may not climb
        above a root. `mkdirs` creates missing directories (workspace only).
        """
        if vp.root is None:
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        cur = _Cursor(vp, vp.root, [self.root_fd(vp.root, vp)], deque(vp.parts))
        while cur.queue:
            name = cur.queue.popleft()
            if name in ("", ".", ".."):
                cur.skip_or_climb(name)
                continue
            last = not cur.queue
            if last and not follow_last:
                return _Target(cur.stack[-1], name, None, cur.root)
            fd = self._lookup(cur, name, last=last, mkdirs=mkdirs)
            if fd is None:
                if last:
                    return _Target(cur.stack[-1], name, None, cur.root)
                continue
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                self._follow(cur, fd)
                continue
            if last:
                return _Target(cur.stack[-1], name, fd, cur.root)
            if not stat.S_ISDIR(mode):
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
            cur.stack.append(fd)
        return _Target(None, None, cur.stack[-1], cur.root)

    def _lookup(self, cur: _Cursor, name: str, *, last: bool, mkdirs: bool) -> int | None:
        """`O_PATH` fd on `name` in the current dir; None if missing (or just created, and re-queued)."""
        try:
            fd = os.open(name, _PATH_FLAGS, dir_fd=cur.stack[-1])
        except FileNotFoundError:
            if last:
                return None
            if not mkdirs:
                raise
            if cur.root != "workspace":
                raise _read_only(cur.vp) from None
            cur.count_hop()  # bounds retries if something keeps deleting what we create
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=cur.stack[-1])
            cur.queue.appendleft(name)  # look it up again: whatever is there now gets checked
            return None
        self._fds.append(fd)
        return fd

    def _follow(self, cur: _Cursor, link_fd: int) -> None:
        """Queue a symlink's target in place of the link, as the container would resolve it."""
        cur.count_hop()
        target = os.readlink("", dir_fd=link_fd)  # the very link we inspected: no second lookup
        if target.startswith("/"):
            cur.root, rest = _split_absolute_link(target, cur.vp)
            cur.stack = [self.root_fd(cur.root, cur.vp)]
        else:
            rest = target.split("/")
        cur.queue.extendleft(reversed(rest))


class _Cursor:
    """Mutable state of one `_Session.resolve` walk."""

    def __init__(self, vp: _VPath, root: str, stack: list[int], queue: deque[str]) -> None:
        self.vp = vp
        self.root = root
        self.stack = stack
        """Directory fds from the root down to where we are; `..` pops."""
        self.queue = queue
        """Components still to walk; symlink targets are pushed onto the front."""
        self.hops = 0

    def skip_or_climb(self, name: str) -> None:
        if name == "..":
            if len(self.stack) == 1:
                raise _escape(self.vp)
            self.stack.pop()

    def count_hop(self) -> None:
        self.hops += 1
        if self.hops > MAX_SYMLINK_HOPS:
            raise _PathError(f"Path '{self.vp.raw}': too many levels of symbolic links")


def _escape(vp: _VPath) -> _PathError:
    return _PathError(
        f"Path '{vp.raw}' leads outside /workspace and /shared (through '..' or a symlink); file tools only reach those two directories"
    )


def _read_only(vp: _VPath) -> _PathError:
    return _PathError(f"Path '{vp.raw}' is under /shared, which is read-only", PERMISSION_DENIED)


def _split_absolute_link(target: str, vp: _VPath) -> tuple[str, list[str]]:
    """Map an absolute symlink target (a container path) to `(root, remaining parts)`."""
    parts = target.split("/")
    for i, part in enumerate(parts):
        if part in ("", "."):
            continue
        if part in _ROOTS:
            return part, parts[i + 1 :]
        break
    raise _escape(vp)


_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (FileNotFoundError, "not found"),
    (PermissionError, "permission denied"),
    (IsADirectoryError, "is a directory"),
    (NotADirectoryError, "a component of the path is not a directory"),
    (UnicodeError, "not valid UTF-8"),
)


def _reason(exc: BaseException) -> str:
    """Describe a failure for the agent without any host path (so never `str(OSError)`)."""
    for kind, text in _REASONS:
        if isinstance(exc, kind):
            return text
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, _PathError):
        return str(exc)
    logger.warning("Unexpected error in a host file operation", exc_info=exc)
    return f"unexpected {type(exc).__name__}"


def _message(prefix: str, path: object, exc: BaseException) -> str:
    if isinstance(exc, _PathError) and exc.args[0].startswith("Path '"):
        return str(exc)
    return f"{prefix} '{path}': {_reason(exc)}"


def _code(exc: BaseException) -> str:
    """Map a failure to a `FileOperationError` literal for upload/download."""
    if isinstance(exc, _PathError):
        return exc.code
    if isinstance(exc, FileNotFoundError):
        return FILE_NOT_FOUND
    if isinstance(exc, PermissionError):
        return PERMISSION_DENIED
    if isinstance(exc, IsADirectoryError):
        return IS_DIRECTORY
    if isinstance(exc, NotADirectoryError) or (isinstance(exc, OSError) and exc.errno in (errno.ELOOP, errno.ENAMETOOLONG)):
        return INVALID_PATH
    return f"Error: {_reason(exc)}"


def _replace(text: str, old: str, new: str, *, replace_all: bool) -> tuple[str, int] | str:
    """`perform_string_replacement`, keeping CRLF files CRLF.

    `read` shows CRLF as LF, so the model's `old_string` arrives LF-only. Like the
    sandbox edit script, try it as sent, then in CRLF form, and transform
    `new_string` the same way, instead of rewriting the whole file to LF.
    """
    lf_old, lf_new = old.replace("\r\n", "\n"), new.replace("\r\n", "\n")
    candidates = [(old, new), (lf_old.replace("\n", "\r\n"), lf_new.replace("\n", "\r\n")), (lf_old, lf_new)]
    cand_old, cand_new = next(((o, n) for o, n in candidates if o and o in text), (old, new))
    count = text.count(cand_old) if cand_old else 0
    if count > 1 and not replace_all:
        return (
            f"Error: String '{old}' appears {count} times in file (multiple occurrences). "
            "Use replace_all=True to replace all instances, or provide a more specific string with surrounding context."
        )
    return perform_string_replacement(text, cand_old, cand_new, replace_all)


def create_workspace_dir(workspace: Path, owner: tuple[int, int] | None) -> None:
    """Create a thread's workspace (0o700) and hand it to `owner`, unless it already exists.

    Both the file tools and the container runner create it on first use; it must
    exist before Docker would create a bind-mount source as root.
    """
    if workspace.is_dir():
        return
    workspace.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(workspace, 0o700)
    except FileExistsError:
        return
    if owner is not None:
        os.chown(workspace, *owner, follow_symlinks=False)


class HostFiles:
    """File operations on one thread's /workspace and the shared /shared, done on the host."""

    def __init__(self, workspace_dir: Path, shared_dir: Path | None, *, fs_uid: int | None = None, fs_gid: int | None = None) -> None:
        """Bind the two host dirs; `fs_uid`/`fs_gid` are the sandbox user's ids.

        The ids only take effect when this process is root; both or neither.
        """
        if (fs_uid is None) != (fs_gid is None):
            msg = "fs_uid and fs_gid must be given together"
            raise ValueError(msg)
        self._workspace = Path(workspace_dir).absolute()
        self._shared = Path(shared_dir).absolute() if shared_dir is not None else None
        self._ids = (fs_uid, fs_gid) if fs_uid is not None and fs_gid is not None and os.geteuid() == 0 else None

    # --- plumbing ---

    def _parse(self, path: object) -> _VPath:
        """Normalise a container path; refuse relative, `..`, and anything off the roots."""
        if not isinstance(path, str) or not path:
            raise _PathError(f"Path {path!r} is not a non-empty string")
        if "\x00" in path:
            raise _PathError(f"Path {path!r} contains a NUL byte")
        if not path.startswith("/"):
            raise _PathError(f"Path '{path}' is relative; file tools need an absolute path under /workspace or /shared")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise _PathError(f"Path '{path}': path traversal ('..') is not allowed")
        if not parts:
            return _VPath(path, "/", None, ())
        if parts[0] == "workspace" or (parts[0] == "shared" and self._shared is not None):
            return _VPath(path, "/" + "/".join(parts), parts[0], tuple(parts[1:]))
        reachable = "/workspace and /shared" if self._shared is not None else "/workspace"
        raise _PathError(f"Path '{path}' is outside the sandbox: file tools only reach {reachable}")

    def _parse_writable(self, path: object) -> _VPath:
        vp = self._parse(path)
        if vp.root == "shared":
            raise _read_only(vp)
        return vp

    def _open_roots(self) -> dict[str, int | None]:
        """Open the roots with the server's own credentials.

        The container user needs no rights on the host dirs *above* the mounts, so
        neither do we; from here down the kernel checks the sandbox user's rights.
        """
        dirs = {"workspace": self._workspace}
        if self._shared is not None:
            dirs["shared"] = self._shared
        roots: dict[str, int | None] = {}
        try:
            for name, host_dir in dirs.items():
                try:
                    roots[name] = os.open(host_dir, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
                except FileNotFoundError:
                    roots[name] = None
        except BaseException:
            for fd in roots.values():
                if fd is not None:
                    os.close(fd)
            raise
        return roots

    def _ensure_workspace(self) -> None:
        """Create a missing workspace (0o700, owned by the sandbox user) before a write."""
        create_workspace_dir(self._workspace, self._ids)

    @contextlib.contextmanager
    def _session(self, *, create_workspace: bool = False) -> Iterator[_Session]:
        if create_workspace:
            self._ensure_workspace()
        session = _Session(self._open_roots())
        try:
            with fs_identity(*self._ids) if self._ids is not None else contextlib.nullcontext():
                yield session
        finally:
            session.close()

    def _search_targets(self, s: _Session, vp: _VPath) -> tuple[list[tuple[str, str, int]], _Target | None]:
        """Directory trees to walk as `(virtual prefix, glob prefix, O_PATH fd)`, or the one non-directory `vp` names."""
        if vp.root is None:
            return [(f"/{r}", f"{r}/", fd) for r, fd in sorted(s.roots.items()) if fd is not None], None
        target = s.resolve(vp)
        if target.fd is None:
            return [], None
        if stat.S_ISDIR(os.fstat(target.fd).st_mode):
            return [(vp.text, "", target.fd)], None
        return [], target

    def _write_bytes(self, s: _Session, vp: _VPath, data: bytes) -> None:
        """Create or truncate-and-write `vp`, creating parent directories."""
        for _ in range(3):
            target = s.resolve(vp, mkdirs=True)
            if target.root != "workspace":
                raise _read_only(vp)
            if target.name is None or target.parent is None:
                raise IsADirectoryError(errno.EISDIR, "Is a directory")
            if target.fd is not None:
                fd = _reopen_regular(target.fd, os.O_WRONLY | os.O_TRUNC)
            else:
                try:
                    fd = os.open(target.name, _CREATE_FLAGS, 0o644, dir_fd=target.parent)
                except FileExistsError:
                    continue  # appeared since we looked: resolve again
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            return
        raise _PathError(f"Path '{vp.raw}' kept changing while being written; try again")

    # --- public API ---

    def ls(self, path: str) -> LsResult:
        """List the direct children of a directory; symlinks are listed, not followed."""
        try:
            vp = self._parse(path)
            if vp.root is None:
                return LsResult(entries=self._ls_roots())
            with self._session() as s:
                if s.roots.get("workspace") is None and vp.text == "/workspace":
                    return LsResult(entries=[])
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
            return LsResult(error=_message("Cannot list", path, exc))

    def _ls_roots(self) -> list[FileInfo]:
        dirs = {"/workspace": self._workspace} | ({"/shared": self._shared} if self._shared else {})
        entries: list[FileInfo] = []
        for vpath, host_dir in sorted(dirs.items()):
            try:
                entries.append(_file_info(vpath, os.stat(host_dir)))
            except OSError:
                entries.append({"path": vpath, "is_dir": True, "size": 0})
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
                        entries.append(_file_info(vpath, entry.stat(follow_symlinks=False)))
                    except OSError:
                        entries.append({"path": vpath, "is_dir": entry.is_dir(follow_symlinks=False)})
        finally:
            os.close(fd)
        return sorted(entries, key=lambda e: e["path"])

    def read(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        """Read a window of a text file, or a whole binary file as base64 (like BaseSandbox)."""
        try:
            vp = self._parse(file_path)
            with self._session() as s:
                fd = s.open_file(vp, os.O_RDONLY)
                try:
                    return self._read_fd(fd, file_path, offset, limit)
                finally:
                    os.close(fd)
        except Exception as exc:
            return ReadResult(error=_message("File", file_path, exc))

    @staticmethod
    def _read_fd(fd: int, file_path: str, offset: int, limit: int) -> ReadResult:
        """Apply BaseSandbox's read rules to an open regular file."""
        binary = _get_backend_read_file_type(file_path) != "text"
        cap = MAX_BINARY_BYTES if binary else MAX_TEXT_BYTES
        raw = _read_capped(fd, cap) if os.fstat(fd).st_size <= cap else None
        if raw is None and not binary:
            return ReadResult(error=f"File '{file_path}' is larger than {MAX_TEXT_BYTES} bytes; use grep or the shell to inspect it")
        if raw is not None and not raw:
            return ReadResult(file_data=FileData(content=EMPTY_CONTENT_WARNING, encoding="utf-8"))
        text = None if binary or raw is None else _utf8_or_none(raw)
        if text is not None:
            return _text_window(text, offset, limit)
        if raw is None or len(raw) > MAX_BINARY_BYTES:  # binary, or text that is not UTF-8
            return ReadResult(error=f"File '{file_path}': Binary file exceeds maximum preview size of {MAX_BINARY_BYTES} bytes")
        return ReadResult(file_data=FileData(content=base64.standard_b64encode(raw).decode("ascii"), encoding="base64"))

    def write(self, file_path: str, content: str) -> WriteResult:
        """Create or overwrite a UTF-8 file under /workspace, creating parent dirs."""
        try:
            vp = self._parse_writable(file_path)
            data = content.encode("utf-8")
            with self._session(create_workspace=True) as s:
                self._write_bytes(s, vp, data)
            return WriteResult(path=file_path)
        except Exception as exc:
            return WriteResult(error=_message("Error writing", file_path, exc))

    def edit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:  # noqa: FBT001, FBT002 (protocol signature)
        """Replace exact text in a UTF-8 file, in place through one O_RDWR fd."""
        try:
            vp = self._parse_writable(file_path)
            with self._session() as s:
                target = s.resolve(vp)
                if target.root != "workspace":
                    raise _read_only(vp)
                if target.fd is None:
                    raise FileNotFoundError(errno.ENOENT, "No such file or directory")
                fd = _reopen_regular(target.fd, os.O_RDWR)
                try:
                    raw = _read_capped(fd, MAX_TEXT_BYTES)
                    if raw is None:
                        return EditResult(error=f"Error editing '{file_path}': file is larger than {MAX_TEXT_BYTES} bytes")
                    result = _replace(raw.decode("utf-8"), old_string, new_string, replace_all=replace_all)
                    if isinstance(result, str):
                        return EditResult(error=result)
                    new_text, occurrences = result
                    data = new_text.encode("utf-8")
                    os.lseek(fd, 0, os.SEEK_SET)
                    _write_all(fd, data)
                    os.ftruncate(fd, len(data))
                finally:
                    os.close(fd)
            return EditResult(path=file_path, occurrences=int(occurrences))
        except Exception as exc:
            return EditResult(error=_message("Error editing", file_path, exc))

    def delete(self, file_path: str) -> DeleteResult:
        """Delete a file, symlink (the link itself) or directory tree under /workspace."""
        try:
            vp = self._parse_writable(file_path)
            if not vp.parts:
                return DeleteResult(error=f"Refusing to delete '{file_path}': it is a root of the sandbox filesystem")
            with self._session() as s:
                target = s.resolve(vp, follow_last=False)
                if target.root != "workspace":
                    raise _read_only(vp)
                if target.parent is None or target.name is None:
                    raise IsADirectoryError(errno.EISDIR, "Is a directory")
                st = os.stat(target.name, dir_fd=target.parent, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    _rmtree_at(target.parent, target.name)
                else:
                    os.unlink(target.name, dir_fd=target.parent)
            return DeleteResult(path=file_path)
        except Exception as exc:
            return DeleteResult(error=_message("Error deleting", file_path, exc))

    def glob(self, pattern: str, path: str | None = None) -> GlobResult:
        """Regular files whose search-root-relative path matches `pattern`, as absolute paths."""
        try:
            matcher = compile_grep_include_glob(pattern)
        except InvalidGlobPatternError as exc:
            return GlobResult(error=str(exc), matches=None)
        except Exception as exc:
            return GlobResult(error=f"Invalid glob pattern {pattern!r}: {_reason(exc)}", matches=None)
        try:
            vp = self._parse(path or "/workspace")
            deadline = time.monotonic() + GLOB_TIME_BUDGET
            matches: list[FileInfo] = []
            budget_hit = unreadable = False
            with self._session() as s:
                for vprefix, gprefix, fd in self._search_targets(s, vp)[0]:
                    walk = _TreeWalk(fd, deadline)
                    with contextlib.closing(walk.files()) as files:
                        for _, _, rel, st in files:
                            if not matcher(gprefix + rel):
                                continue
                            if len(matches) >= GLOB_MAX_MATCHES:
                                budget_hit = True
                                break
                            matches.append(_file_info(f"{vprefix}/{rel}", st))
                    budget_hit = budget_hit or walk.timed_out
                    unreadable = unreadable or walk.unreadable
                    if budget_hit:
                        break
            matches.sort(key=lambda m: m["path"])
            reason = "budget" if budget_hit else "unreadable" if unreadable else None
            return GlobResult(matches=matches, truncated=reason is not None, truncation_reason=reason)
        except (FileNotFoundError, NotADirectoryError):
            return GlobResult(matches=[])
        except Exception as exc:
            return GlobResult(error=_message("Error globbing", path, exc), matches=None)

    def grep(self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None) -> GrepResult:
        """Literal, case-sensitive, per-line search; skips `.git`, binaries and files > 10 MiB."""
        try:
            include = compile_grep_include_glob(glob) if glob else None
        except InvalidGlobPatternError as exc:
            return GrepResult(error=str(exc), matches=[])
        if not isinstance(pattern, str):
            return GrepResult(error=f"Grep pattern must be a string, got {type(pattern).__name__}", matches=[])
        search = _GrepSearch(pattern, include, max_count, time.monotonic() + GREP_TIME_BUDGET)
        try:
            vp = self._parse(path or "/workspace")
            with self._session() as s:
                truncated = self._grep_tree(s, vp, search)
            return GrepResult(matches=search.matches, truncated=truncated)
        except (FileNotFoundError, NotADirectoryError):
            return GrepResult(matches=[])
        except Exception as exc:
            return GrepResult(error=_message("Error searching", path, exc), matches=search.matches)

    def _grep_tree(self, s: _Session, vp: _VPath, search: _GrepSearch) -> bool:
        """Fill `search.matches`; return True when stopped early (cap or time budget)."""
        bases, single = self._search_targets(s, vp)
        if single is not None and single.fd is not None:
            if search.include is not None and not search.include(single.name or ""):
                return False
            fd = _reopen_regular(single.fd, os.O_RDONLY)
            try:
                return search.scan(fd, vp.text)
            finally:
                os.close(fd)
        for vprefix, gprefix, base_fd in bases:
            walk = _TreeWalk(base_fd, search.deadline, prune=frozenset({".git"}))
            with contextlib.closing(walk.files()) as files:
                for dir_fd, name, rel, st in files:
                    if st.st_size > MAX_GREP_FILE_BYTES or (search.include is not None and not search.include(gprefix + rel)):
                        continue
                    try:
                        fd = _open_regular_at(dir_fd, name, os.O_RDONLY)
                    except (OSError, _PathError):
                        continue
                    try:
                        if search.scan(fd, f"{vprefix}/{rel}"):
                            return True
                    finally:
                        os.close(fd)
            if walk.timed_out:
                return True
        return False

    def upload_files(self, files: list[tuple[str, bytes]]) -> list[FileUploadResponse]:
        """Write raw bytes per file; per-file errors are `FileOperationError` literals."""
        responses: list[FileUploadResponse] = []
        for path, content in files:
            try:
                vp = self._parse_writable(path)
                if not isinstance(content, (bytes, bytearray, memoryview)):
                    responses.append(FileUploadResponse(path=path, error=f"Error: content must be bytes, got {type(content).__name__}"))
                    continue
                with self._session(create_workspace=True) as s:
                    self._write_bytes(s, vp, bytes(content))
                responses.append(FileUploadResponse(path=path))
            except Exception as exc:
                responses.append(FileUploadResponse(path=path, error=_code(exc)))
        return responses

    def download_files(self, paths: list[str]) -> list[FileDownloadResponse]:
        """Read raw bytes per file; per-file errors are `FileOperationError` literals."""
        responses: list[FileDownloadResponse] = []
        for path in paths:
            try:
                vp = self._parse(path)
                with self._session() as s:
                    fd = s.open_file(vp, os.O_RDONLY)
                    try:
                        data = _read_capped(fd, MAX_DOWNLOAD_BYTES)
                    finally:
                        os.close(fd)
                if data is None:
                    too_big = f"Error: file is larger than the {MAX_DOWNLOAD_BYTES} byte download limit"
                    responses.append(FileDownloadResponse(path=path, error=too_big))
                else:
                    responses.append(FileDownloadResponse(path=path, content=data))
            except Exception as exc:
                responses.append(FileDownloadResponse(path=path, error=_code(exc)))
        return responses


def _utf8_or_none(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _text_window(text: str, offset: int, limit: int) -> ReadResult:
    """Paginate like `slice_read_response`, but end without a line terminator like BaseSandbox."""
    result = slice_read_response(FileData(content=text, encoding="utf-8"), offset, limit)
    if result.file_data is not None and result.start_line is not None:
        result.file_data["content"] = result.file_data["content"].removesuffix("\n")
    return result


class _GrepSearch:
    """One grep's pattern, limits and accumulated matches."""

    def __init__(self, pattern: str, include: Callable[[str], bool] | None, max_count: int | None, deadline: float) -> None:
        self.pattern = pattern
        self.include = include
        self.max_count = max_count
        self.deadline = deadline
        self.matches: list[GrepMatch] = []

    def scan(self, fd: int, vpath: str) -> bool:
        """Add this file's matching lines; True once a match beyond `max_count` shows up."""
        raw = _read_capped(fd, MAX_GREP_FILE_BYTES)
        if raw is None:
            return False
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return False  # binary: skipped silently, like ripgrep
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for number, raw_line in enumerate(lines, 1):
            line = raw_line.removesuffix("\r")
            if self.pattern in line:
                if self.max_count is not None and len(self.matches) >= self.max_count:
                    return True
                self.matches.append({"path": vpath, "line": number, "text": line})
        return False
