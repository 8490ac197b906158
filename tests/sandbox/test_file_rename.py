"""`sandbox.files.file_rename.rename_path`: the owner's rename obeys the file tools' rules and never replaces anything.

Built directly on disk (what the agent could leave behind with `ln -s`); no Docker is needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.files.file_rename import rename_path
from sandbox.files.file_tools import HostFiles
from sandbox.files.path_errors import PathError, message

SECRET = "TOP-SECRET-HOST-DATA"


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    found = {name: tmp_path / name for name in ("ws", "shared", "outside")}
    for folder in found.values():
        folder.mkdir()
    (found["shared"] / "doc.txt").write_text("shared\n")
    (found["outside"] / "f").write_text(SECRET)
    return found


@pytest.fixture
def hf(dirs: dict[str, Path]) -> HostFiles:
    return HostFiles(dirs["ws"], dirs["shared"])


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_files_and_folders_move_with_their_contents(hf: HostFiles, dirs: dict[str, Path]) -> None:
    ws = dirs["ws"]
    (ws / "a.txt").write_text("a\n")
    (ws / "dir" / "sub").mkdir(parents=True)
    (ws / "dir" / "sub" / "x").write_text("x\n")
    before = _open_fds()
    rename_path(hf, "/workspace/a.txt", "/workspace/dir/b.txt")
    rename_path(hf, "/workspace/dir", "/workspace//moved/")
    assert (ws / "moved" / "b.txt").read_text() == "a\n"
    assert (ws / "moved" / "sub" / "x").read_text() == "x\n"
    assert sorted(p.name for p in ws.iterdir()) == ["moved"]
    assert _open_fds() == before, "rename leaked file descriptors"


def test_nothing_is_ever_replaced(hf: HostFiles, dirs: dict[str, Path]) -> None:
    ws = dirs["ws"]
    (ws / "a.txt").write_text("a\n")
    (ws / "b.txt").write_text("b\n")
    (ws / "dir").mkdir()
    os.symlink("nowhere", ws / "dangling")
    for target in ("/workspace/b.txt", "/workspace/dir", "/workspace/dangling"):
        with pytest.raises(FileExistsError):
            rename_path(hf, "/workspace/a.txt", target)
    assert (ws / "b.txt").read_text() == "b\n"
    assert (ws / "a.txt").read_text() == "a\n"
    assert os.readlink(ws / "dangling") == "nowhere"


def test_a_link_is_renamed_itself_never_its_target(hf: HostFiles, dirs: dict[str, Path]) -> None:
    ws = dirs["ws"]
    os.symlink(dirs["outside"] / "f", ws / "link")
    rename_path(hf, "/workspace/link", "/workspace/renamed-link")
    assert os.readlink(ws / "renamed-link") == str(dirs["outside"] / "f")
    assert (dirs["outside"] / "f").read_text() == SECRET


@pytest.mark.parametrize(
    ("source", "target", "needle"),
    [
        ("/workspace", "/workspace/w", "is a root"),
        ("/workspace/a.txt", "/workspace", "is a root"),
        ("/workspace/a.txt", "/shared/a.txt", "read-only"),
        ("/shared/doc.txt", "/workspace/doc.txt", "read-only"),
        ("/workspace/a.txt", "/workspace/sh/a.txt", "read-only"),
        ("/workspace/sh/doc.txt", "/workspace/doc.txt", "read-only"),
        ("/workspace/a.txt", "/workspace/out/a.txt", "leads outside"),
        ("/workspace/out/f", "/workspace/f", "leads outside"),
        ("/workspace/a.txt", "/workspace/../a.txt", "traversal"),
        ("/workspace/a.txt", "relative.txt", "relative"),
        ("/workspace/a.txt", "/etc/a.txt", "outside the sandbox"),
        ("/workspace/a.txt", "/workspace/a\x00.txt", "NUL"),
    ],
)
def test_the_file_tools_rules_refuse_with_their_own_words(
    hf: HostFiles, dirs: dict[str, Path], source: str, target: str, needle: str
) -> None:
    ws = dirs["ws"]
    (ws / "a.txt").write_text("a\n")
    os.symlink("/shared", ws / "sh")
    os.symlink(dirs["outside"], ws / "out")
    with pytest.raises(PathError) as refused:
        rename_path(hf, source, target)
    text = message("Error renaming", source, refused.value)
    assert needle in text, text
    assert str(dirs["outside"]) not in text, "a host path reached the message"
    assert (ws / "a.txt").read_text() == "a\n"
    assert (dirs["outside"] / "f").read_text() == SECRET
    assert sorted(p.name for p in dirs["shared"].iterdir()) == ["doc.txt"]


def test_missing_source_or_target_folder_is_not_found(hf: HostFiles, dirs: dict[str, Path]) -> None:
    (dirs["ws"] / "a.txt").write_text("a\n")
    with pytest.raises(FileNotFoundError):
        rename_path(hf, "/workspace/missing", "/workspace/b")
    with pytest.raises(FileNotFoundError):
        rename_path(hf, "/workspace/a.txt", "/workspace/no/such/b")
    assert (dirs["ws"] / "a.txt").exists()
