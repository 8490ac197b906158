"""User ids become memory folder names that are safe, stable and distinct."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandbox.memories import memories_path, user_dir_name

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
    for user_id in HOSTILE_IDS:
        path = memories_path(tmp_path, user_id)
        assert path.parent == tmp_path
        assert path.resolve().parent == tmp_path.resolve()
