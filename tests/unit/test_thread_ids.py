"""One thread, one spelling: every other spelling of a UUID thread id is refused before it can name storage.

Properties (hypothesis) over generated ids and spellings; no Docker.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.sandbox import SandboxSettings
from sandbox import ThreadRef
from sandbox.disks.thread_ids import NonCanonicalThreadIdError, canonical_thread_id, is_alias, storage_name, uuid_form
from sandbox.disks.workspace import prepare_workspace, workspace_path
from sandbox.runs.errors import InvalidThreadIdError

SETTINGS = SandboxSettings(workspaces_dir=Path("/nonexistent/workspaces"), memories_dir=Path("/nonexistent/memories"))


def _spellings(value: uuid.UUID) -> list[str]:
    """Ways `uuid.UUID` (and so both servers' `/threads/{id}`) accepts the same id."""
    text = str(value)
    return [
        text.upper(),
        value.hex,
        value.hex.upper(),
        "{" + text + "}",
        f"urn:uuid:{text}",
        text[:8] + text[9:],  # one hyphen missing
        "-".join(value.hex[i : i + 4] for i in range(0, 32, 4)),  # hyphens elsewhere
        text[:1].upper() + text[1:] if text[0].isalpha() else text.replace("a", "A", 1),
    ]


@given(st.uuids())
def test_the_canonical_spelling_is_accepted_as_is(value: uuid.UUID) -> None:
    assert canonical_thread_id(str(value)) == str(value)
    assert ThreadRef(user_id="u", thread_id=str(value), image="i").thread_id == str(value)


@given(st.uuids(), st.data())
def test_every_other_spelling_is_refused_and_names_the_canonical_one(value: uuid.UUID, data: st.DataObject) -> None:
    spelling = data.draw(st.sampled_from([s for s in _spellings(value) if s != str(value)]))
    with pytest.raises(NonCanonicalThreadIdError) as refused:
        canonical_thread_id(spelling)
    assert refused.value.canonical == str(value)
    assert str(value) in str(refused.value)
    # Nothing that names storage accepts it: the run's ThreadRef, the workspace path, preparing a workspace.
    with pytest.raises(InvalidThreadIdError):
        ThreadRef(user_id="u", thread_id=spelling, image="i")
    with pytest.raises(InvalidThreadIdError):
        workspace_path(SETTINGS, spelling)
    with pytest.raises(InvalidThreadIdError):
        prepare_workspace(SETTINGS, spelling, create=False, user_id="local")


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=140), st.from_regex(r"[A-Za-z0-9_.{}:-]{1,40}", fullmatch=True)))
def test_whatever_is_accepted_is_one_safe_path_component_and_its_own_canonical_form(name: str) -> None:
    try:
        accepted = canonical_thread_id(name)
    except InvalidThreadIdError:
        return
    assert accepted == name
    assert "/" not in name
    assert "\x00" not in name
    assert name not in {".", ".."}
    assert Path(name).name == name
    assert len(name) <= 128
    assert not is_alias(name)
    parsed = uuid_form(name)
    assert parsed is None or parsed == name


@settings(max_examples=300)
@given(st.lists(st.one_of(st.uuids().map(str), st.from_regex(r"[0-9A-Fa-f_-]{32,36}", fullmatch=True)), min_size=2, max_size=6))
def test_no_two_accepted_names_are_the_same_thread(names: list[str]) -> None:
    accepted = set()
    for name in names:
        try:
            accepted.add(canonical_thread_id(name))
        except InvalidThreadIdError:
            continue
    as_uuids = [uuid_form(n) or n for n in accepted]
    assert len(as_uuids) == len(set(as_uuids)), accepted


@given(st.uuids())
def test_a_leftover_alias_is_still_a_removable_storage_name(value: uuid.UUID) -> None:
    for spelling in _spellings(value):
        if spelling != str(value) and storage_name_ok(spelling):
            assert is_alias(spelling)
            assert storage_name(spelling) == spelling


def storage_name_ok(name: str) -> bool:
    try:
        storage_name(name)
    except InvalidThreadIdError:
        return False
    return True


def test_names_that_are_not_uuids_keep_working() -> None:
    for name in ("my-thread", "conformance-thread", "t-1", "thread.v2", "A" * 128):
        assert canonical_thread_id(name) == name
