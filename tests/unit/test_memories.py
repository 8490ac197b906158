"""User ids become memory folder names that are safe, stable and distinct."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.env import SettingsError
from config.sandbox import SandboxSettings
from sandbox.disks.memories import memories_path, user_dir_name

SAFE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

HOSTILE_IDS = [
    "alice",
    "Alice",
    "ALICE",
    "a/lice",
    "a-lice",
    "a_lice",
    "a lice",
    ".",
    "..",
    "../..",
    "/etc/passwd",
    "../../workspaces/t1",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate, as JSON can decode
    "用户",  # no ASCII at all
    "-",
    "x" * 10_000,
    "auth0|5f7c8ec7c33c6c004bbafe82",
    "google-oauth2|1234",
]


@pytest.mark.parametrize("user_id", HOSTILE_IDS, ids=repr)
def test_every_id_maps_to_a_plain_folder_name(user_id: str) -> None:
    name = user_dir_name(user_id)
    assert SAFE.fullmatch(name), name
    assert len(name) <= 73
    assert user_dir_name(user_id) == name, "the mapping must be stable across calls and restarts"


def test_distinct_ids_get_distinct_folders() -> None:
    names = [user_dir_name(u) for u in HOSTILE_IDS]
    assert len(set(names)) == len(HOSTILE_IDS)


def test_the_name_stays_readable() -> None:
    assert user_dir_name("Alice.Smith@example.com").startswith("alice-smith-example-com-")
    assert user_dir_name("用户").startswith("user-")


@pytest.mark.parametrize("bad", ["", None, 42])
def test_an_empty_or_non_string_id_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        user_dir_name(bad)  # type: ignore[arg-type]


def test_memories_path_stays_directly_under_the_memories_dir(tmp_path: Path) -> None:
    settings = SandboxSettings(workspaces_dir=tmp_path / "w", shared_dir=tmp_path / "s", memories_dir=tmp_path / "m")
    for user_id in HOSTILE_IDS:
        path = memories_path(settings, user_id)
        assert path.parent == tmp_path / "m"
        assert path.resolve().parent == (tmp_path / "m").resolve()


@pytest.mark.parametrize(
    ("workspaces", "shared", "memories"),
    [("w", "s", "w"), ("w", "s", "w/m"), ("w/m", "s", "w"), ("w", "s", "s"), ("w", "s", "s/m"), ("w", "s/m", "s")],
)
def test_memories_never_overlap_workspaces_or_shared(tmp_path: Path, workspaces: str, shared: str, memories: str) -> None:
    with pytest.raises(SettingsError, match="SANDBOX_MEMORIES_DIR"):
        SandboxSettings(workspaces_dir=tmp_path / workspaces, shared_dir=tmp_path / shared, memories_dir=tmp_path / memories)


def test_memories_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_WORKSPACES_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("SANDBOX_SHARED_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("SANDBOX_MEMORIES_DIR", str(tmp_path / "m"))
    assert SandboxSettings.from_env().memories_dir == tmp_path / "m"
    monkeypatch.setenv("SANDBOX_MEMORIES_DIR", str(tmp_path / "w" / "m"))
    with pytest.raises(SettingsError, match="SANDBOX_MEMORIES_DIR"):
        SandboxSettings.from_env()
