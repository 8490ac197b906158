"""Failures become values the agent can read: path parsing, file-tool errors, Docker failures.

No host path and no traceback may reach the agent; each message names the virtual path.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest
import requests
from deepagents.backends.protocol import FILE_NOT_FOUND, INVALID_PATH, IS_DIRECTORY, PERMISSION_DENIED
from docker.errors import APIError, DockerException

from config.sandbox import SandboxSettings
from sandbox import DockerSandbox, SandboxDeployment
from sandbox.backend import failure_result
from sandbox.disks.workspace import ThreadRef
from sandbox.files.fd_walk import VPath, parse_path
from sandbox.files.path_errors import NO_SPACE_REASON, PathError, error_code, escape_error, message, read_only_error, reason
from sandbox.runs.errors import DockerUnavailableError, SandboxImageError

ALL = ("workspace", "shared", "memories")
REF = ThreadRef(user_id="u", thread_id="t", image="i")

# --- path parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text", "root", "parts"),
    [
        ("/", "/", None, ()),
        ("//./", "/", None, ()),
        ("/workspace", "/workspace", "workspace", ()),
        ("/workspace/", "/workspace", "workspace", ()),
        ("/workspace//a/./b/", "/workspace/a/b", "workspace", ("a", "b")),
        ("/shared/doc.txt", "/shared/doc.txt", "shared", ("doc.txt",)),
        ("/memories/AGENTS.md", "/memories/AGENTS.md", "memories", ("AGENTS.md",)),
        ("/workspace/名字 with space", "/workspace/名字 with space", "workspace", ("名字 with space",)),
    ],
)
def test_paths_are_normalised(raw: str, text: str, root: str | None, parts: tuple[str, ...]) -> None:
    assert parse_path(raw, roots=ALL) == VPath(raw, text, root, parts)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", "is not a non-empty string"),
        (None, "is not a non-empty string"),
        (7, "is not a non-empty string"),
        ("/workspace/a\x00b", "contains a NUL byte"),
        ("workspace/a", "is relative"),
        ("./a", "is relative"),
        ("/workspace/../etc/passwd", "path traversal ('..') is not allowed"),
        ("/workspace/a/..", "path traversal ('..') is not allowed"),
        ("/etc/passwd", "is outside the sandbox"),
        ("/workspaces/t/a", "is outside the sandbox"),
        ("/work/wt/layout/workspaces/t/a", "is outside the sandbox"),
    ],
)
def test_bad_paths_are_refused_with_invalid_path(raw: object, words: str) -> None:
    with pytest.raises(PathError) as info:
        parse_path(raw, roots=ALL)
    assert words in str(info.value)
    assert info.value.code == INVALID_PATH


def test_absent_roots_are_outside_and_the_message_lists_what_is_reachable() -> None:
    with pytest.raises(PathError, match=r"only reach /workspace$"):
        parse_path("/shared/doc", roots=("workspace",))
    with pytest.raises(PathError, match=r"only reach /workspace and /shared$"):
        parse_path("/memories/AGENTS.md", roots=("workspace", "shared"))
    with pytest.raises(PathError, match=r"only reach /workspace, /shared and /memories$"):
        parse_path("/tmp/x", roots=ALL)
    with pytest.raises(PathError, match="outside the sandbox"):
        parse_path("/etc", roots=("workspace", "etc"))  # only known roots count


# --- file-tool errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "text", "code"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file", "/srv/secret/path"), "not found", FILE_NOT_FOUND),
        (PermissionError(errno.EACCES, "Permission denied", "/srv/secret/path"), "permission denied", PERMISSION_DENIED),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/srv/secret/path"), "is a directory", IS_DIRECTORY),
        (NotADirectoryError(errno.ENOTDIR, "Not a dir", "/srv/secret/path"), "a component of the path is not a directory", INVALID_PATH),
        (OSError(errno.ELOOP, "Too many levels of symbolic links", "/srv/secret/path"), "Too many levels of symbolic links", INVALID_PATH),
        (OSError(errno.ENAMETOOLONG, "File name too long", "/srv/secret/path"), "File name too long", INVALID_PATH),
        (OSError(errno.ENOSPC, "No space left on device", "/srv/secret/path"), NO_SPACE_REASON, f"Error: {NO_SPACE_REASON}"),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "/srv/secret/path"), NO_SPACE_REASON, f"Error: {NO_SPACE_REASON}"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "not valid UTF-8", "Error: not valid UTF-8"),
    ],
)
def test_os_errors_map_to_words_and_codes_without_host_paths(exc: BaseException, text: str, code: str) -> None:
    assert reason(exc) == text
    assert error_code(exc) == code
    written = message("Error writing", "/workspace/a.txt", exc)
    assert written == f"Error writing '/workspace/a.txt': {text}"
    assert "/srv/secret" not in written


def test_path_errors_keep_their_own_message_and_code() -> None:
    escape = escape_error("/workspace/link")
    assert message("File", "/workspace/link", escape) == str(escape)
    assert str(escape).startswith("Path '/workspace/link' leads outside /workspace")
    assert error_code(escape) == INVALID_PATH
    ro = read_only_error("/shared/x")
    assert error_code(ro) == PERMISSION_DENIED
    assert message("Error writing", "/shared/x", ro) == "Path '/shared/x' is under /shared, which is read-only"
    other = PathError("not a regular file (FIFO, socket or device)")
    assert message("File", "/workspace/fifo", other) == "File '/workspace/fifo': not a regular file (FIFO, socket or device)"


def test_unexpected_errors_are_named_by_type_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sandbox.files.path_errors"):
        assert reason(KeyError("/srv/secret")) == "unexpected KeyError"
    assert "Unexpected error in a host file operation" in caplog.text
    assert error_code(KeyError("x")) == "Error: unexpected KeyError"


# --- Docker failures become tool results ----------------------------------------------------


def test_sandbox_errors_are_shown_as_written() -> None:
    for exc in (DockerUnavailableError("Docker is not reachable at unix:///x"), SandboxImageError("Sandbox image 'a' is not available")):
        result = failure_result(REF, exc)
        assert result.exit_code is None
        assert result.output == f"Sandbox error: {exc}"


def test_a_lost_connection_and_a_refusal_are_told_apart(caplog: pytest.LogCaptureFixture) -> None:
    lost = failure_result(REF, requests.exceptions.ConnectionError("reset by peer"))
    assert lost.output == "Sandbox error: lost the connection to Docker (reset by peer)."
    with caplog.at_level(logging.WARNING, logger="sandbox.backend"):
        refused = failure_result(REF, APIError("409 Conflict"))
    assert refused.output == "Sandbox error: Docker refused the command: 409 Conflict"
    assert "thread t" in caplog.text
    assert failure_result(REF, DockerException("boom")).exit_code is None


@pytest.mark.parametrize(("asked", "given"), [(None, 120), (5, 5), (1800, 1800), (99999, 1800), (0, 1800), (-3, 1800)])
def test_requested_timeouts_are_clamped(tmp_path: Path, asked: int | None, given: int) -> None:
    settings = SandboxSettings(image="i", workspaces_dir=tmp_path, shared_dir=tmp_path, timeout_seconds=120, max_timeout_seconds=1800)
    box = DockerSandbox("t", SandboxDeployment(settings))
    assert box._effective_timeout(asked) == given
