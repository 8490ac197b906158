"""What the file tools say when they refuse or fail: agent-facing text and protocol codes.

Every message names only virtual paths (`/workspace/...`, `/shared/...`,
`/memories/...`); a host path, and so `str(OSError)`, never reaches the agent.
"""

from __future__ import annotations

import errno
import logging

from deepagents.backends.protocol import FILE_NOT_FOUND, INVALID_PATH, IS_DIRECTORY, PERMISSION_DENIED

from sandbox.runs.errors import SandboxError

logger = logging.getLogger(__name__)

NO_SPACE_REASON = (
    "no space left in /workspace: this thread's disk quota (SANDBOX_DISK_QUOTA) is full, "
    "so nothing was written; delete files you no longer need, then try again"
)
"""What a write past the quota reports; the file tools keep the old content of the file."""


class PathError(Exception):
    """A path we refuse; the message is agent-facing and names only virtual paths."""

    def __init__(self, message: str, code: str = INVALID_PATH) -> None:
        super().__init__(message)
        self.code = code


def escape_error(path: str) -> PathError:
    """A path that would leave the sandbox's roots (through `..` or a symlink)."""
    return PathError(
        f"Path '{path}' leads outside /workspace, /shared and /memories (through '..' or a symlink); "
        "file tools only reach those directories"
    )


def read_only_error(path: str) -> PathError:
    """A write aimed at `/shared`."""
    return PathError(f"Path '{path}' is under /shared, which is read-only", PERMISSION_DENIED)


_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (FileNotFoundError, "not found"),
    (PermissionError, "permission denied"),
    (IsADirectoryError, "is a directory"),
    (NotADirectoryError, "a component of the path is not a directory"),
    (UnicodeError, "not valid UTF-8"),
)


def reason(exc: BaseException) -> str:
    """Describe a failure for the agent without any host path (so never `str(OSError)`)."""
    for kind, text in _REASONS:
        if isinstance(exc, kind):
            return text
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NO_SPACE_REASON
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, SandboxError):  # e.g. a new workspace refused by SANDBOX_DISK_TOTAL
        return str(exc)
    if isinstance(exc, PathError):
        return str(exc)
    logger.warning("Unexpected error in a host file operation", exc_info=exc)
    return f"unexpected {type(exc).__name__}"


def message(prefix: str, path: object, exc: BaseException) -> str:
    """The agent-facing error text of a failed operation on `path`."""
    if isinstance(exc, PathError) and exc.args[0].startswith("Path '"):
        return str(exc)
    return f"{prefix} '{path}': {reason(exc)}"


def error_code(exc: BaseException) -> str:
    """Map a failure to a `FileOperationError` literal for upload/download."""
    if isinstance(exc, PathError):
        return exc.code
    if isinstance(exc, FileNotFoundError):
        return FILE_NOT_FOUND
    if isinstance(exc, PermissionError):
        return PERMISSION_DENIED
    if isinstance(exc, IsADirectoryError):
        return IS_DIRECTORY
    if isinstance(exc, NotADirectoryError) or (isinstance(exc, OSError) and exc.errno in (errno.ELOOP, errno.ENAMETOOLONG)):
        return INVALID_PATH
    return f"Error: {reason(exc)}"
