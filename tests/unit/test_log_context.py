"""Log records carry the run's user, thread and run, and a command's id, from context alone."""

from __future__ import annotations

import contextvars
import logging

import pytest
from langchain_core.runnables.config import var_child_runnable_config

from sandbox.runs import log_context
from sandbox.runs.log_context import bind_request, bound, command_scope, current_fields


@pytest.fixture(autouse=True)
def _installed() -> None:
    log_context.install()


def _record() -> logging.LogRecord:
    return logging.getLogger("sandbox.test").makeRecord("sandbox.test", logging.INFO, __file__, 1, "hello", (), None)


def test_a_runs_config_names_user_thread_and_run() -> None:
    token = var_child_runnable_config.set(
        {"configurable": {"thread_id": "t-1", "run_id": "r-1", "langgraph_auth_user": {"identity": "alice"}}}  # type: ignore[typeddict-unknown-key]
    )
    try:
        record = _record()
    finally:
        var_child_runnable_config.reset(token)
    assert (record.user_id, record.thread_id, record.run_id) == ("alice", "t-1", "r-1")  # type: ignore[attr-defined]
    assert not hasattr(record, "command_id")


def test_outside_any_context_nothing_is_added() -> None:
    record = _record()
    assert not any(hasattr(record, name) for name in log_context.FIELDS)


def test_a_command_keeps_one_id_through_nested_scopes_and_a_new_one_after() -> None:
    with bound(user_id="bob", thread_id="t-2"), command_scope(user_id="bob", thread_id="t-2") as outer:
        with command_scope(user_id="bob", thread_id="t-2") as inner:
            record = _record()
        assert inner == outer
        assert record.command_id == outer  # type: ignore[attr-defined]
        assert record.user_id == "bob"  # type: ignore[attr-defined]
    with command_scope(user_id="bob", thread_id="t-2") as later:
        assert later != outer
    assert current_fields() == {}


def test_bound_fields_win_over_the_runs_and_skip_unknown_values() -> None:
    token = var_child_runnable_config.set({"configurable": {"thread_id": "t-1", "run_id": "r-1"}})  # type: ignore[typeddict-unknown-key]
    try:
        with bound(thread_id="t-9", run_id=None):
            assert current_fields() == {"thread_id": "t-9", "run_id": "r-1"}
    finally:
        var_child_runnable_config.reset(token)


def test_a_requests_fields_last_for_its_context_only() -> None:
    def request() -> dict[str, str]:
        bind_request(user_id="carol", thread_id="t-3", run_id=None)
        return current_fields()

    assert contextvars.copy_context().run(request) == {"user_id": "carol", "thread_id": "t-3"}
    assert current_fields() == {}
