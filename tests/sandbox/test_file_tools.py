"""Tests for `sandbox.files.file_tools.HostFiles`: semantics, and every escape we could think of.

Escape scenarios are built directly on disk (what the agent could do from inside the
container with `ln -s`, `mkfifo`, renames); no Docker is needed.
"""

from __future__ import annotations

import base64
import ctypes
import gc
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from deepagents.backends.protocol import FileDownloadResponse, FileUploadResponse
from deepagents.backends.utils import EMPTY_CONTENT_WARNING, EMPTY_OLD_STRING_ERROR

from sandbox.files import file_search
from sandbox.files.fd_walk import MAX_SYMLINK_HOPS
from sandbox.files.file_tools import HostFiles
from sandbox.files.fs_identity import fs_identity

SECRET = "TOP-SECRET-HOST-DATA"
IS_ROOT = os.geteuid() == 0
NOBODY = 65534
needs_root = pytest.mark.skipif(not IS_ROOT, reason="setfsuid/setfsgid need root (CAP_SETUID/CAP_SETGID)")


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A project-like tree: two thread workspaces, shared/, and a .env beside them."""
    ws = tmp_path / "workspaces" / "thread1"
    other = tmp_path / "workspaces" / "other"
    shared = tmp_path / "shared"
    outside = tmp_path / "outside"
    for d in (ws, other, shared, outside):
        d.mkdir(parents=True)
    (other / "secret").write_text(SECRET)
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
    (outside / "f").write_text(SECRET)
    (shared / "doc.txt").write_text("shared doc\nsecond line\n")
    return {"root": tmp_path, "ws": ws, "other": other, "shared": shared, "outside": outside}


@pytest.fixture
def hf(layout: dict[str, Path]) -> HostFiles:
    return HostFiles(layout["ws"], layout["shared"])


def _content(result: object) -> str:
    file_data = getattr(result, "file_data", None)
    return file_data["content"] if file_data else ""


def _assert_no_leak(result: object, layout: dict[str, Path]) -> None:
    """Nothing secret and no real host path may appear anywhere in a result."""
    text = repr(result)
    assert SECRET not in text
    assert str(layout["root"]) not in text


def _open_fds() -> int:
    """Open fds of this process, after collecting garbage (earlier tests' docker-py streams hold sockets until then)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


# --- paths outside the roots -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "/tmp/x", "/root", "/", "/workspacex/f", "relative/path.txt", "", "'; import os; os.system('echo INJECTED'); #"],
)
def test_paths_off_the_roots_are_refused(hf: HostFiles, layout: dict[str, Path], path: str) -> None:
    result = hf.read(path)
    assert result.error is not None
    assert result.file_data is None
    _assert_no_leak(result, layout)
    assert hf.write(path, "x").error is not None
    assert hf.upload_files([(path, b"x")])[0].error in {"invalid_path", "is_directory"}
    assert hf.download_files([path])[0].error in {"invalid_path", "is_directory"}


def test_real_host_path_of_workspace_is_refused(hf: HostFiles, layout: dict[str, Path]) -> None:
    (layout["ws"] / "a.txt").write_text("hello")
    host_path = str(layout["ws"] / "a.txt")
    result = hf.read(host_path)
    assert result.error is not None
    assert "only reach /workspace and /shared" in result.error
    assert hf.download_files([host_path]) == [FileDownloadResponse(path=host_path, error="invalid_path")]


def test_relative_paths_give_invalid_path(hf: HostFiles) -> None:
    assert hf.upload_files([("relative_upload.txt", b"nope")]) == [FileUploadResponse(path="relative_upload.txt", error="invalid_path")]
    assert hf.download_files(["relative/path.txt"]) == [FileDownloadResponse(path="relative/path.txt", error="invalid_path")]
    assert "relative" in (hf.read("workspace/a").error or "")


@pytest.mark.parametrize("path", ["/workspace/../../etc/passwd", "/workspace/a/../../x", "/workspace/..", "/shared/../workspace/x"])
def test_dotdot_is_refused(hf: HostFiles, layout: dict[str, Path], path: str) -> None:
    (layout["ws"] / "a").mkdir()
    result = hf.read(path)
    assert result.error is not None
    assert "traversal" in result.error
    assert "traversal" in (hf.write(path, "x").error or "")
    assert hf.upload_files([(path, b"x")])[0].error == "invalid_path"
    assert hf.download_files([path])[0].error == "invalid_path"
    assert not (layout["root"] / "x").exists()


def test_repeated_slashes_and_dots_are_normalised(hf: HostFiles, layout: dict[str, Path]) -> None:
    assert hf.write("//workspace//./sub///f.txt", "hi").error is None
    assert (layout["ws"] / "sub" / "f.txt").read_text() == "hi"
    assert _content(hf.read("/workspace/./sub/f.txt")) == "hi"


# --- symlink escapes ---------------------------------------------------------------


def test_symlink_to_filesystem_root_is_not_followed(hf: HostFiles, layout: dict[str, Path]) -> None:
    os.symlink("/", layout["ws"] / "link")
    result = hf.read("/workspace/link/etc/passwd")
    assert result.error is not None
    assert "outside" in result.error
    assert "root:" not in repr(result)
    assert hf.download_files(["/workspace/link/etc/passwd"])[0].error == "invalid_path"
    assert hf.ls("/workspace/link").error is not None
    assert hf.glob("*", path="/workspace/link").error is not None
    assert hf.grep("root", path="/workspace/link/etc").error is not None


def test_symlink_to_host_file_is_refused(hf: HostFiles, layout: dict[str, Path]) -> None:
    os.symlink("/etc/passwd", layout["ws"] / "passwd")
    os.symlink(layout["outside"] / "f", layout["ws"] / "outside_f")
    for path in ("/workspace/passwd", "/workspace/outside_f"):
        result = hf.read(path)
        assert result.error is not None
        assert "root:" not in repr(result)
        _assert_no_leak(result, layout)
        assert hf.download_files([path])[0].error == "invalid_path"
        assert hf.edit(path, SECRET, "pwned").error is not None
    assert (layout["outside"] / "f").read_text() == SECRET


def test_write_through_symlinked_file_is_refused(hf: HostFiles, layout: dict[str, Path]) -> None:
    target = layout["outside"] / "created_by_agent"
    os.symlink(target, layout["ws"] / "x")
    os.symlink(layout["outside"] / "f", layout["ws"] / "existing")
    assert hf.write("/workspace/x", "pwned").error is not None
    assert hf.upload_files([("/workspace/x", b"pwned")])[0].error == "invalid_path"
    assert hf.write("/workspace/existing", "pwned").error is not None
    assert not target.exists()
    assert (layout["outside"] / "f").read_text() == SECRET


def test_write_through_symlinked_parent_dir_is_refused(hf: HostFiles, layout: dict[str, Path]) -> None:
    os.symlink(layout["outside"], layout["ws"] / "d")
    assert hf.write("/workspace/d/new.txt", "pwned").error is not None
    assert hf.write("/workspace/d/sub/deeper/new.txt", "pwned").error is not None
    assert hf.upload_files([("/workspace/d/up.bin", b"pwned")])[0].error == "invalid_path"
    assert hf.delete("/workspace/d/f").error is not None
    assert sorted(p.name for p in layout["outside"].iterdir()) == ["f"]
    assert (layout["outside"] / "f").read_text() == SECRET


def test_symlink_to_sibling_thread_is_refused(hf: HostFiles, layout: dict[str, Path]) -> None:
    os.symlink("../other/secret", layout["ws"] / "rel")
    os.symlink(layout["other"] / "secret", layout["ws"] / "abs")
    os.symlink("/workspace/../other/secret", layout["ws"] / "container_abs")
    os.symlink("../other", layout["ws"] / "otherdir")
    for path in ("/workspace/rel", "/workspace/abs", "/workspace/container_abs", "/workspace/otherdir/secret"):
        result = hf.read(path)
        assert result.error is not None, path
        _assert_no_leak(result, layout)
    assert hf.grep(SECRET, path="/workspace/otherdir").error is not None
    assert hf.write("/workspace/otherdir/planted", "x").error is not None
    assert not (layout["other"] / "planted").exists()


def test_symlink_to_project_env_is_refused(hf: HostFiles, layout: dict[str, Path]) -> None:
    os.symlink("../../.env", layout["ws"] / "env_rel")
    os.symlink(layout["root"] / ".env", layout["ws"] / "env_abs")
    for path in ("/workspace/env_rel", "/workspace/env_abs"):
        result = hf.read(path)
        assert result.error is not None
        _assert_no_leak(result, layout)
        assert hf.download_files([path])[0].error == "invalid_path"


def test_symlinks_that_stay_inside_the_roots_are_followed(hf: HostFiles, layout: dict[str, Path]) -> None:
    ws = layout["ws"]
    (ws / "real").mkdir()
    (ws / "real" / "f.txt").write_text("inside")
    os.symlink("real/f.txt", ws / "rel_file")
    os.symlink("/workspace/real", ws / "abs_dir")
    os.symlink("/shared/doc.txt", ws / "to_shared")
    os.symlink("./real/../real/f.txt", ws / "dotted")
    assert _content(hf.read("/workspace/rel_file")) == "inside"
    assert _content(hf.read("/workspace/abs_dir/f.txt")) == "inside"
    assert _content(hf.read("/workspace/dotted")) == "inside"
    assert _content(hf.read("/workspace/to_shared")).startswith("shared doc")
    assert [e["path"] for e in hf.ls("/workspace/abs_dir").entries or []] == ["/workspace/abs_dir/f.txt"]
    assert hf.write("/workspace/abs_dir/g.txt", "via link").error is None
    assert (ws / "real" / "g.txt").read_text() == "via link"
    # A workspace link into /shared does not make /shared writable.
    result = hf.write("/workspace/to_shared", "overwrite")
    assert result.error is not None
    assert "read-only" in result.error
    os.symlink("/shared", ws / "shared_link")
    assert "read-only" in (hf.write("/workspace/shared_link/newdir/x.txt", "x").error or "")
    assert "read-only" in (hf.delete("/workspace/shared_link/doc.txt").error or "")
    assert hf.upload_files([("/workspace/shared_link/up", b"x")])[0].error == "permission_denied"
    assert sorted(p.name for p in layout["shared"].iterdir()) == ["doc.txt"]
    assert (layout["shared"] / "doc.txt").read_text().startswith("shared doc")


def _recording_prepare(calls: list[tuple[str, bool]]) -> dict[str, Callable[[bool], object]]:
    """`prepare` callables that only record which root was prepared, and whether for a write."""

    def recorder(root: str) -> Callable[[bool], object]:
        return lambda create: calls.append((root, create))

    return {root: recorder(root) for root in ("workspace", "memories", "artifacts")}


def test_an_operation_prepares_only_the_roots_it_reaches(layout: dict[str, Path]) -> None:
    """Preparing a root checks (or mounts) its disk: a file operation pays it for what it touches, not for every root."""
    ws, memories, artifacts = layout["ws"], layout["root"] / "memories" / "u", layout["root"] / "artifacts" / "thread1"
    memories.mkdir(parents=True)
    (memories / "note.md").write_text("remember")
    calls: list[tuple[str, bool]] = []
    files = HostFiles(ws, layout["shared"], memories_dir=memories, artifacts_dir=artifacts, prepare=_recording_prepare(calls))
    assert files.write("/workspace/a.txt", "x").error is None
    assert calls == [("workspace", True)]
    calls.clear()
    assert _content(files.read("/workspace/a.txt")) == "x"
    assert files.edit("/workspace/a.txt", "x", "y").error is None
    assert calls == [("workspace", False), ("workspace", False)]
    calls.clear()
    assert _content(files.read("/shared/doc.txt")).startswith("shared doc")
    assert calls == []
    # A symlink into another root still resolves: that root is prepared when the walk reaches it.
    os.symlink("/memories/note.md", ws / "to_note")
    assert _content(files.read("/workspace/to_note")) == "remember"
    assert calls == [("workspace", False), ("memories", False)]
    calls.clear()
    assert [m["path"] for m in files.grep("remember", "/").matches or []] == ["/memories/note.md"]
    assert sorted(calls) == [("artifacts", False), ("memories", False), ("workspace", False)]


@needs_root
def test_a_root_reached_through_a_symlink_is_prepared_and_opened_as_the_server(tmp_path: Path) -> None:
    """The walk runs as the sandbox user, but a root it reaches midway is prepared and opened with the server's rights."""
    ws = tmp_path / "workspaces" / "t"
    memories = tmp_path / "memories" / "u"  # under a root-only folder, as on a real host
    memories.mkdir(parents=True)
    (tmp_path / "memories").chmod(0o700)
    (memories / "note.md").write_text("remember")
    for path in (memories, memories / "note.md"):
        os.chown(path, NOBODY, NOBODY)
    seen: list[tuple[int, int]] = []
    prepare = {"memories": lambda create: seen.append(_task_ids(threading.get_native_id())[:2])}
    files = HostFiles(ws, None, memories_dir=memories, fs_uid=NOBODY, fs_gid=NOBODY, prepare=prepare)
    assert files.write("/workspace/to_note", "placeholder").error is None
    (ws / "to_note").unlink()
    os.symlink("/memories/note.md", ws / "to_note")
    assert _content(files.read("/workspace/to_note")) == "remember"
    assert seen == [(0, 0)]
    created = files.write("/workspace/to_note", "changed")
    assert created.error is None
    assert (memories / "note.md").read_text() == "changed"
    assert (memories / "note.md").stat().st_uid == NOBODY
    assert _task_ids(threading.get_native_id())[:2] == (0, 0)


def test_symlink_loop_is_reported(hf: HostFiles, layout: dict[str, Path]) -> None:
    os.symlink("b", layout["ws"] / "a")
    os.symlink("a", layout["ws"] / "b")
    os.symlink("self", layout["ws"] / "self")
    for path in ("/workspace/a", "/workspace/self/x"):
        result = hf.read(path)
        assert result.error is not None
        assert "too many levels of symbolic links" in result.error
    assert MAX_SYMLINK_HOPS == 40


_libc = ctypes.CDLL(None, use_errno=True)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    """Atomically swap two directory entries (renameat2 RENAME_EXCHANGE), as an attacker would."""
    if _libc.renameat2(_AT_FDCWD, bytes(a), _AT_FDCWD, bytes(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@pytest.mark.parametrize("link_kind", ["absolute_host", "relative", "fs_root"])
def test_race_swapping_dir_for_symlink_never_leaks(hf: HostFiles, layout: dict[str, Path], link_kind: str) -> None:
    ws, outside = layout["ws"], layout["outside"]
    (ws / "d").mkdir()
    (ws / "d" / "f").write_text("public")
    # Where "d" points while it is a symlink; with "/" we ask for a host file that exists.
    target = {"absolute_host": str(outside), "relative": "../../outside", "fs_root": "/"}[link_kind]
    read_path = "/workspace/d/etc/hostname" if link_kind == "fs_root" else "/workspace/d/f"
    os.symlink(target, ws / "alt")
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            _exchange(ws / "d", ws / "alt")

    flipper = threading.Thread(target=flip, daemon=True)
    fds_before = _open_fds()
    flipper.start()
    ok = failed = 0
    deadline = time.monotonic() + 1.0
    try:
        while time.monotonic() < deadline:
            result = hf.read(read_path)
            assert SECRET not in repr(result)
            if result.error is None:
                assert _content(result) == "public"
                ok += 1
            else:
                failed += 1
            assert hf.download_files(["/workspace/d/f"])[0].content in (None, b"public")
            assert SECRET not in repr(hf.grep("E", path="/workspace/d"))
            assert SECRET not in repr(hf.glob("*", path="/workspace/d"))
            hf.write("/workspace/d/planted", "x")  # lands in the real dir or fails; never outside
            hf.delete("/workspace/d/f2")
    finally:
        stop.set()
        flipper.join()
    assert failed > 0
    if link_kind == "fs_root":
        assert ok == 0  # /etc/hostname exists on the host: any success would be an escape
    else:
        assert ok > 0
    assert sorted(p.name for p in outside.iterdir()) == ["f"]
    assert (outside / "f").read_text() == SECRET
    assert _open_fds() == fds_before


# --- /shared is read-only ----------------------------------------------------------


def test_shared_is_read_only(hf: HostFiles, layout: dict[str, Path]) -> None:
    doc = layout["shared"] / "doc.txt"
    for error in (
        hf.write("/shared/new.txt", "x").error,
        hf.write("/shared/doc.txt", "x").error,
        hf.edit("/shared/doc.txt", "shared", "changed").error,
        hf.delete("/shared/doc.txt").error,
        hf.delete("/shared").error,
    ):
        assert error is not None
        assert "read-only" in error
        assert str(layout["root"]) not in error
    assert hf.upload_files([("/shared/up.bin", b"x")]) == [FileUploadResponse(path="/shared/up.bin", error="permission_denied")]
    assert doc.read_text() == "shared doc\nsecond line\n"
    assert not (layout["shared"] / "new.txt").exists()
    assert _content(hf.read("/shared/doc.txt")) == "shared doc\nsecond line"
    assert [e["path"] for e in hf.ls("/shared").entries or []] == ["/shared/doc.txt"]
    assert hf.download_files(["/shared/doc.txt"])[0].content == doc.read_bytes()
    assert [m["path"] for m in hf.grep("second", path="/shared").matches or []] == ["/shared/doc.txt"]


def test_symlink_from_shared_into_workspace_is_not_writable_via_shared(hf: HostFiles, layout: dict[str, Path]) -> None:
    result = hf.write("/shared/anything/f.txt", "x")
    assert result.error is not None
    assert "read-only" in result.error


def test_without_shared_dir_only_workspace_is_reachable(layout: dict[str, Path]) -> None:
    files = HostFiles(layout["ws"], None)
    assert [e["path"] for e in files.ls("/").entries or []] == ["/workspace"]
    result = files.read("/shared/doc.txt")
    assert result.error is not None
    assert "only reach /workspace" in result.error
    os.symlink("/shared/doc.txt", layout["ws"] / "l")
    assert files.read("/workspace/l").error is not None


# --- special files -----------------------------------------------------------------


def _with_timeout(fn: Callable[[], object], seconds: float = 5.0) -> object:
    box: list[object] = []
    worker = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert box, f"call did not return within {seconds}s (blocked on a FIFO?)"
    return box[0]


def test_fifo_is_refused_promptly(hf: HostFiles, layout: dict[str, Path]) -> None:
    os.mkfifo(layout["ws"] / "pipe")
    result = _with_timeout(lambda: hf.read("/workspace/pipe"))
    assert result.error is not None
    assert "regular file" in result.error
    assert _with_timeout(lambda: hf.download_files(["/workspace/pipe"])) == [
        FileDownloadResponse(path="/workspace/pipe", error="invalid_path")
    ]
    assert _with_timeout(lambda: hf.write("/workspace/pipe", "x")).error is not None
    assert _with_timeout(lambda: hf.edit("/workspace/pipe", "a", "b")).error is not None
    assert _with_timeout(lambda: hf.grep("x", path="/workspace")).matches == []
    assert _with_timeout(lambda: hf.glob("*")).matches == []
    assert _with_timeout(lambda: hf.grep("x", path="/workspace/pipe")).error is not None


# --- read ---------------------------------------------------------------------------


def test_read_text_pagination(hf: HostFiles, layout: dict[str, Path]) -> None:
    lines = [f"Line_{i:04d}" for i in range(250)]
    (layout["ws"] / "big.txt").write_text("\n".join(lines) + "\n")
    page = hf.read("/workspace/big.txt", offset=100, limit=100)
    assert page.error is None
    assert page.file_data == {"content": "\n".join(lines[100:200]), "encoding": "utf-8"}
    assert (page.start_line, page.end_line, page.next_offset, page.total_lines) == (101, 200, 200, 250)
    last = hf.read("/workspace/big.txt", offset=200, limit=100)
    assert _content(last) == "\n".join(lines[200:])
    assert last.next_offset is None
    beyond = hf.read("/workspace/big.txt", offset=1000)
    assert beyond.error == "Line offset 1000 exceeds file length (250 lines)"
    zero = hf.read("/workspace/big.txt", limit=0)
    assert zero.no_lines_requested
    assert _content(zero) == ""
    negative = hf.read("/workspace/big.txt", offset=-5, limit=2)
    assert _content(negative) == "Line_0000\nLine_0001"


def test_read_crlf_is_shown_as_lf(hf: HostFiles, layout: dict[str, Path]) -> None:
    (layout["ws"] / "win.txt").write_bytes(b"a\r\nb\r\n")
    assert _content(hf.read("/workspace/win.txt")) == "a\nb"


def test_read_empty_missing_and_directory(hf: HostFiles, layout: dict[str, Path]) -> None:
    (layout["ws"] / "empty.txt").write_text("")
    (layout["ws"] / "dir").mkdir()
    assert hf.read("/workspace/empty.txt").file_data == {"content": EMPTY_CONTENT_WARNING, "encoding": "utf-8"}
    missing = hf.read("/workspace/nope.txt")
    assert missing.error is not None
    assert "not found" in missing.error
    assert "is a directory" in (hf.read("/workspace/dir").error or "")
    assert "is a directory" in (hf.read("/workspace").error or "")
    assert hf.read("/workspace/empty.txt/x").error is not None


def test_read_binary_as_base64(hf: HostFiles, layout: dict[str, Path]) -> None:
    raw = bytes(range(256)) * 400
    (layout["ws"] / "img.png").write_bytes(raw)
    result = hf.read("/workspace/img.png")
    assert result.error is None
    assert result.file_data is not None
    assert result.file_data["encoding"] == "base64"
    assert base64.b64decode(result.file_data["content"]) == raw
    # A "text" extension with non-UTF-8 bytes is also handed over as base64.
    (layout["ws"] / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    latin = hf.read("/workspace/latin1.txt")
    assert latin.file_data == {"content": base64.b64encode(b"caf\xe9").decode(), "encoding": "base64"}


def test_read_binary_over_limit_has_exact_error(hf: HostFiles, layout: dict[str, Path]) -> None:
    (layout["ws"] / "big.png").write_bytes(bytes(range(256)) * 4096)
    (layout["ws"] / "big.txt").write_bytes(b"\xff" * (1024 * 1024))
    for path in ("/workspace/big.png", "/workspace/big.txt"):
        result = hf.read(path)
        assert result.file_data is None
        assert result.error == f"File '{path}': Binary file exceeds maximum preview size of 512000 bytes"


def test_unicode_names_and_content(hf: HostFiles, layout: dict[str, Path]) -> None:
    path = "/workspace/测试/файл 👋.txt"
    content = "Hello 👋 世界\nПривет мир"  # noqa: RUF001
    assert hf.write(path, content).error is None
    assert (layout["ws"] / "测试" / "файл 👋.txt").read_text() == content
    assert _content(hf.read(path)) == content
    assert [e["path"] for e in hf.ls("/workspace/测试").entries or []] == [path]
    assert hf.grep("世界", path="/workspace").matches == [{"path": path, "line": 1, "text": "Hello 👋 世界"}]


# --- write / edit / delete ----------------------------------------------------------


def test_write_creates_parents_and_overwrites(hf: HostFiles, layout: dict[str, Path]) -> None:
    assert hf.write("/workspace/a/b/c.txt", "one").path == "/workspace/a/b/c.txt"
    assert hf.write("/workspace/a/b/c.txt", "two").error is None
    assert (layout["ws"] / "a" / "b" / "c.txt").read_text() == "two"
    assert stat.S_IMODE((layout["ws"] / "a" / "b" / "c.txt").stat().st_mode) & 0o644 == 0o644
    assert "is a directory" in (hf.write("/workspace/a", "x").error or "")
    assert hf.write("/workspace/a/b/c.txt/d", "x").error is not None


def test_missing_workspace_reads_empty_and_is_created_on_write(tmp_path: Path) -> None:
    ws = tmp_path / "workspaces" / "new-thread"
    files = HostFiles(ws, None)
    assert files.ls("/workspace").entries == []
    assert "not found" in (files.read("/workspace/x").error or "")
    assert files.glob("*").matches == []
    assert files.grep("x").matches == []
    assert files.download_files(["/workspace/x"])[0].error == "file_not_found"
    assert not ws.exists()
    assert files.write("/workspace/x", "hi").error is None
    assert stat.S_IMODE(ws.stat().st_mode) == 0o700
    assert (ws / "x").read_text() == "hi"


def test_edit_semantics(hf: HostFiles, layout: dict[str, Path]) -> None:
    f = layout["ws"] / "e.txt"
    f.write_text("apple\nbanana\napple\norange\napple")
    multiple = hf.edit("/workspace/e.txt", "apple", "pear")
    assert multiple.error is not None
    assert "appears 3 times" in multiple.error
    assert "replace_all" in multiple.error
    assert "multiple" in multiple.error
    assert hf.edit("/workspace/e.txt", "", "x").error == EMPTY_OLD_STRING_ERROR
    assert "not found" in (hf.edit("/workspace/e.txt", "kiwi", "x").error or "").lower()
    assert "not found" in (hf.edit("/workspace/missing.txt", "a", "b").error or "").lower()
    assert hf.edit("/workspace/e.txt", "banana", "B").occurrences == 1
    result = hf.edit("/workspace/e.txt", "apple", "pear", replace_all=True)
    assert (result.path, result.occurrences, result.error) == ("/workspace/e.txt", 3, None)
    assert f.read_text() == "pear\nB\npear\norange\npear"
    assert hf.edit("/workspace/e.txt", "pear\norange\npear", "x").occurrences == 1
    assert f.read_text() == "pear\nB\nx"


def test_edit_shrinks_file_and_keeps_crlf(hf: HostFiles, layout: dict[str, Path]) -> None:
    f = layout["ws"] / "win.txt"
    f.write_bytes(b"first line\r\nsecond line\r\nthird\r\n")
    assert hf.edit("/workspace/win.txt", "first line\nsecond line", "one\ntwo").occurrences == 1
    assert f.read_bytes() == b"one\r\ntwo\r\nthird\r\n"
    (layout["ws"] / "bin.txt").write_bytes(b"\xff\xfe")
    assert "UTF-8" in (hf.edit("/workspace/bin.txt", "a", "b").error or "")


def test_delete(hf: HostFiles, layout: dict[str, Path]) -> None:
    ws = layout["ws"]
    (ws / "tree" / "sub" / "deeper").mkdir(parents=True)
    (ws / "tree" / "sub" / "deeper" / "f").write_text("x")
    os.symlink(layout["outside"], ws / "tree" / "sub" / "to_outside")
    os.symlink(layout["outside"], ws / "top_link")
    assert hf.delete("/workspace/top_link").path == "/workspace/top_link"
    assert not (ws / "top_link").is_symlink()
    assert hf.delete("/workspace/tree").error is None
    assert not (ws / "tree").exists()
    assert (layout["outside"] / "f").read_text() == SECRET
    assert "not found" in (hf.delete("/workspace/tree").error or "")
    assert hf.delete("/workspace").error is not None
    assert hf.delete("/").error is not None
    assert ws.is_dir()


# --- ls / glob / grep -----------------------------------------------------------------


def test_ls(hf: HostFiles, layout: dict[str, Path]) -> None:
    ws = layout["ws"]
    (ws / "dir").mkdir()
    (ws / "b.txt").write_text("bb")
    os.symlink("/", ws / "link_to_root")
    result = hf.ls("/workspace/")
    assert result.error is None
    entries = {e["path"]: e for e in result.entries or []}
    assert list(entries) == ["/workspace/b.txt", "/workspace/dir", "/workspace/link_to_root"]
    assert entries["/workspace/dir"]["is_dir"] is True
    assert entries["/workspace/b.txt"] | {"modified_at": ""} == {"path": "/workspace/b.txt", "is_dir": False, "size": 2, "modified_at": ""}
    assert entries["/workspace/link_to_root"]["is_dir"] is False
    assert [(e["path"], e["is_dir"]) for e in hf.ls("/").entries or []] == [("/shared", True), ("/workspace", True)]
    assert hf.ls("/workspace/nope").error == "Path '/workspace/nope': path_not_found"
    assert hf.ls("/workspace/b.txt").error == "Path '/workspace/b.txt': not_a_directory"
    assert hf.ls("'; import os; os.system('echo INJECTED'); #").error is not None


def test_glob(hf: HostFiles, layout: dict[str, Path]) -> None:
    ws = layout["ws"]
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "top.py").write_text("x")
    (ws / "src" / "pkg" / "mod.py").write_text("x")
    (ws / "src" / "notes.txt").write_text("x")
    (ws / ".hidden.py").write_text("x")
    os.symlink(layout["outside"], ws / "src" / "escape")
    os.symlink(ws / "src" / "pkg", ws / "pkglink")
    (layout["outside"] / "evil.py").write_text(SECRET)
    result = hf.glob("*.py")
    assert result.error is None
    assert [m["path"] for m in result.matches or []] == ["/workspace/src/pkg/mod.py", "/workspace/top.py"]
    assert all(m["is_dir"] is False and m["size"] == 1 for m in result.matches or [])
    assert [m["path"] for m in hf.glob("src/**/*.py").matches or []] == ["/workspace/src/pkg/mod.py"]
    assert [m["path"] for m in hf.glob("/*.py").matches or []] == ["/workspace/top.py"]
    assert [m["path"] for m in hf.glob(".*").matches or []] == ["/workspace/.hidden.py"]
    assert [m["path"] for m in hf.glob("*", path="/workspace/src").matches or []] == [
        "/workspace/src/notes.txt",
        "/workspace/src/pkg/mod.py",
    ]
    assert [m["path"] for m in hf.glob("*.txt", path="/").matches or []] == ["/shared/doc.txt", "/workspace/src/notes.txt"]
    assert hf.glob("*.py", path="/workspace/missing").matches == []
    refused = hf.glob("../*.py")
    assert refused.error is not None
    assert refused.matches is None
    assert hf.glob("*.py", path="/etc").error is not None


def test_grep(hf: HostFiles, layout: dict[str, Path]) -> None:
    ws = layout["ws"]
    (ws / "sub").mkdir()
    (ws / ".git").mkdir()
    (ws / "a.txt").write_text("one\nneedle here\nthree\nneedle again\n")
    (ws / "sub" / "b.py").write_text("x = 'needle'\r\n")
    (ws / ".git" / "config").write_text("needle in git\n")
    (ws / "blob.bin").write_bytes(b"\xff\xfeneedle\n")
    os.symlink(layout["outside"], ws / "escape")
    (layout["outside"] / "g").write_text(f"needle {SECRET}\n")
    result = hf.grep("needle")
    assert result.error is None
    assert result.truncated is False
    assert result.matches == [
        {"path": "/workspace/a.txt", "line": 2, "text": "needle here"},
        {"path": "/workspace/a.txt", "line": 4, "text": "needle again"},
        {"path": "/workspace/sub/b.py", "line": 1, "text": "x = 'needle'"},
    ]
    assert [m["path"] for m in hf.grep("needle", glob="*.py").matches or []] == ["/workspace/sub/b.py"]
    assert hf.grep("needle", path="/workspace/a.txt").matches == result.matches[:2]
    assert hf.grep("Needle").matches == []
    assert hf.grep("needle", path="/workspace/nope").matches == []
    assert hf.grep("needle", path="/workspace/nope").error is None
    capped = hf.grep("needle", max_count=2)
    assert (len(capped.matches or []), capped.truncated) == (2, True)
    exact = hf.grep("needle", max_count=3)
    assert (len(exact.matches or []), exact.truncated) == (3, False)
    refused = hf.grep("needle", glob="../*")
    assert (refused.matches, refused.error is not None) == ([], True)
    (ws / "special.txt").write_text("str | int\n[a-z]*\n")
    assert [m["text"] for m in hf.grep("[a-z]*").matches or []] == ["[a-z]*"]


def test_glob_and_grep_budgets(hf: HostFiles, layout: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        (layout["ws"] / f"f{i}.txt").write_text("needle\n")
    monkeypatch.setattr(file_search, "GLOB_MAX_MATCHES", 2)
    capped = hf.glob("*.txt")
    assert (len(capped.matches or []), capped.truncated, capped.truncation_reason) == (2, True, "budget")
    monkeypatch.setattr(file_search, "GLOB_MAX_MATCHES", 3)
    assert (len(hf.glob("*.txt").matches or []), hf.glob("*.txt").truncated) == (3, False)
    monkeypatch.setattr(file_search, "GLOB_TIME_BUDGET", -1.0)
    timed_out = hf.glob("*.txt")
    assert (timed_out.truncated, timed_out.truncation_reason) == (True, "budget")
    monkeypatch.setattr(file_search, "GREP_TIME_BUDGET", -1.0)
    assert hf.grep("needle").truncated is True


def test_grep_skips_files_over_the_size_cap(hf: HostFiles, layout: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    (layout["ws"] / "small.txt").write_text("needle\n")
    (layout["ws"] / "large.txt").write_text("needle\n" + "x" * 100)
    monkeypatch.setattr(file_search, "MAX_GREP_FILE_BYTES", 50)
    assert [m["path"] for m in hf.grep("needle").matches or []] == ["/workspace/small.txt"]


# --- upload / download --------------------------------------------------------------


def test_upload_download_roundtrip_and_errors(hf: HostFiles, layout: dict[str, Path]) -> None:
    payload = b"Roundtrip \n\t\r\x00" + bytes(range(256))
    files = [("/workspace/up/1.bin", payload), ("/workspace/up/2.txt", b"two"), ("/workspace/up", b"dir")]
    assert hf.upload_files(files) == [
        FileUploadResponse(path="/workspace/up/1.bin", error=None),
        FileUploadResponse(path="/workspace/up/2.txt", error=None),
        FileUploadResponse(path="/workspace/up", error="is_directory"),
    ]
    assert hf.download_files(["/workspace/up/2.txt", "/workspace/up/1.bin", "/workspace/up", "/workspace/missing"]) == [
        FileDownloadResponse(path="/workspace/up/2.txt", content=b"two"),
        FileDownloadResponse(path="/workspace/up/1.bin", content=payload),
        FileDownloadResponse(path="/workspace/up", error="is_directory"),
        FileDownloadResponse(path="/workspace/missing", error="file_not_found"),
    ]


def test_no_fd_leaks_and_no_host_paths_in_errors(hf: HostFiles, layout: dict[str, Path]) -> None:
    ws = layout["ws"]
    os.symlink("/", ws / "root_link")
    os.symlink("loop", ws / "loop")
    os.mkfifo(ws / "fifo")
    (ws / "d").mkdir()
    (ws / "d" / "f.txt").write_text("hello\n")
    hf.ls("/workspace")  # warm-up: imports and caches may open fds once
    before = _open_fds()
    results: list[object] = []
    for path in (
        "/workspace/d/f.txt",
        "/workspace/root_link/etc",
        "/workspace/loop",
        "/workspace/fifo",
        "/workspace/nope/x",
        "/workspace/d",
    ):
        results += [hf.read(path), hf.ls(path), hf.edit(path, "hello", "bye"), hf.glob("*", path=path), hf.grep("h", path=path)]
        results += [*hf.download_files([path]), hf.write(path + "_new", "x"), hf.delete(path + "_new")]
    results += hf.upload_files([("/workspace/root_link/x", b"x"), ("/workspace/d/up", b"x")])
    assert _open_fds() == before
    for result in results:
        _assert_no_leak(result, layout)


# --- kernel-enforced identity (root only) ---------------------------------------------


def _task_ids(native_id: int) -> tuple[int, int, str]:
    """(fsuid, fsgid, groups) of one thread, from its /proc status."""
    fields = {}
    for line in Path(f"/proc/self/task/{native_id}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return int(fields["Uid"][3]), int(fields["Gid"][3]), " ".join(fields["Groups"])


@needs_root
def test_fs_identity_is_per_thread_and_restored() -> None:
    main_id = threading.get_native_id()
    seen: dict[str, object] = {}

    def worker() -> None:
        me = threading.get_native_id()
        with fs_identity(NOBODY, NOBODY):
            seen["inside"] = _task_ids(me)
            seen["main_meanwhile"] = _task_ids(main_id)
        seen["after"] = _task_ids(me)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["inside"] == (NOBODY, NOBODY, str(NOBODY))
    assert seen["main_meanwhile"][:2] == (0, 0)
    assert seen["after"][:2] == (0, 0)
    assert seen["after"] == _task_ids(main_id)


@needs_root
def test_operations_run_with_the_sandbox_users_permissions(tmp_path: Path) -> None:
    ws = tmp_path / "workspaces" / "t"
    files = HostFiles(ws, None, fs_uid=NOBODY, fs_gid=NOBODY)
    assert files.write("/workspace/made/by/agent.txt", "hi").error is None
    assert (ws.stat().st_uid, stat.S_IMODE(ws.stat().st_mode)) == (NOBODY, 0o700)
    created = ws / "made" / "by" / "agent.txt"
    assert (created.stat().st_uid, created.stat().st_gid) == (NOBODY, NOBODY)
    assert (ws / "made").stat().st_uid == NOBODY

    locked = ws / "locked.txt"
    locked.write_text(SECRET)  # created by root, as the test process
    locked.chmod(0o000)
    group_only = ws / "group_only.txt"
    group_only.write_text(SECRET)
    group_only.chmod(0o640)  # root:root, so the sandbox user may not read it
    root_dir = ws / "rootdir"
    root_dir.mkdir(mode=0o700)
    (root_dir / "inner.txt").write_text(SECRET)

    assert files.download_files(["/workspace/locked.txt"]) == [
        FileDownloadResponse(path="/workspace/locked.txt", error="permission_denied")
    ]
    assert "permission denied" in (files.read("/workspace/locked.txt").error or "")
    assert files.download_files(["/workspace/group_only.txt"])[0].error == "permission_denied"
    assert files.edit("/workspace/locked.txt", SECRET, "x").error is not None
    assert files.write("/workspace/rootdir/new.txt", "x").error is not None
    assert files.ls("/workspace/rootdir").error is not None
    assert files.grep(SECRET).matches == []
    glob = files.glob("*.txt")
    assert (glob.truncated, glob.truncation_reason) == (True, "unreadable")
    assert locked.stat().st_mode & 0o777 == 0
    # The calling thread is root again afterwards.
    assert _task_ids(threading.get_native_id())[:2] == (0, 0)
    assert files.read("/workspace/made/by/agent.txt").file_data == {"content": "hi", "encoding": "utf-8"}


def test_fs_ids_must_come_together(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="together"):
        HostFiles(tmp_path, None, fs_uid=NOBODY)
