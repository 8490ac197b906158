"""Which threads a delete or prune request removes, named as their storage is (no server, no Docker)."""

from __future__ import annotations

import json
import uuid

from hypothesis import given
from hypothesis import strategies as st

from server.thread_removal import deleted_thread_id, is_prune, named_thread_ids, stored_spelling


def _scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path}


@given(st.uuids(), st.sampled_from([str.upper, str.lower, lambda s: s.replace("-", ""), lambda s: "{" + s + "}"]))
def test_a_delete_in_any_spelling_cleans_the_canonical_threads_storage(value: uuid.UUID, spell: object) -> None:
    spelled = spell(str(value))  # type: ignore[operator]
    assert deleted_thread_id(_scope("DELETE", f"/threads/{spelled}")) == str(value)
    assert deleted_thread_id(_scope("DELETE", f"/threads/{spelled}/")) == str(value)
    assert deleted_thread_id(_scope("GET", f"/threads/{spelled}")) is None
    assert deleted_thread_id(_scope("DELETE", f"/threads/{spelled}/runs/x")) is None


def test_non_uuid_thread_ids_keep_their_name_and_unsafe_ones_name_nothing() -> None:
    assert deleted_thread_id(_scope("DELETE", "/threads/my-thread")) == "my-thread"
    assert deleted_thread_id(_scope("DELETE", "/threads/..")) is None
    assert stored_spelling(42) is None


@given(st.lists(st.one_of(st.uuids().map(str), st.uuids().map(lambda u: u.hex.upper()), st.text(max_size=10), st.integers())))
def test_a_prune_body_names_canonical_ids_only(ids: list[object]) -> None:
    named = named_thread_ids(json.dumps({"thread_ids": ids}).encode())
    assert named == sorted(set(named))
    for name in named:
        assert stored_spelling(name) == name


def test_prune_requests_are_recognised_and_odd_bodies_name_nothing() -> None:
    assert is_prune(_scope("POST", "/threads/prune"))
    assert not is_prune(_scope("GET", "/threads/prune"))
    for body in (b"", b"not json", b"[]", b'{"thread_ids": "x"}'):
        assert named_thread_ids(body) == []
