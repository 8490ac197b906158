"""Who and what a log line is about: user, thread, run and command id on every record.

An operator reading the server log must tie a line to its user, thread, run and,
for commands, to the one command it is about (the same `command_id` the audit
log records). Passing those through every call would touch every signature, so
they travel in context variables, which asyncio tasks and the sandbox's worker
pools (`sandbox.coordination.fair_pool` copies the caller's context) carry along:

- inside a LangGraph run, user, thread and run are read from the run's own config
  (`sandbox.runs.run_context`), so no code has to set them;
- outside a run (the web client's file routes, the admin routes) `bound(...)` sets them;
- `command_scope()` gives each command its id; nested calls (the offload wrapper's
  inner `execute`) keep the outer one, so one command has one id.

`install()` wraps the logging record factory, so the fields reach every handler
as record attributes: the servers' structlog formatter (`structlog.stdlib.ExtraAdder`)
renders them as `key=value`, or as JSON keys with `LOG_JSON=true`. A field that is
not known is left off rather than logged as empty.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from langchain_core.runnables.config import var_child_runnable_config

from sandbox.runs.run_context import run_user_id

FIELDS = ("user_id", "thread_id", "run_id", "command_id")
"""The record attributes (and structlog keys) this module adds."""

_bound: ContextVar[Mapping[str, str]] = ContextVar("sandbox_log_fields", default={})  # noqa: B039 - never mutated
"""Fields set explicitly (`bound`, `command_scope`); they win over the run's config."""


def _run_fields() -> dict[str, str]:
    """User, thread and run of the LangGraph run this code runs in (empty outside one)."""
    config = var_child_runnable_config.get()
    if not config:
        return {}
    configurable = config.get("configurable") or {}
    metadata = config.get("metadata") or {}
    fields: dict[str, str] = {}
    user = run_user_id(configurable)
    if user:
        fields["user_id"] = user
    thread = configurable.get("thread_id") or metadata.get("thread_id")
    if thread:
        fields["thread_id"] = str(thread)
    run = configurable.get("run_id") or metadata.get("run_id") or config.get("run_id")
    if run:
        fields["run_id"] = str(run)
    return fields


def current_fields() -> dict[str, str]:
    """The log fields known here: the run's, overridden by anything bound."""
    return {**_run_fields(), **_bound.get()}


def current_command_id() -> str | None:
    """The id of the command being run here, if any (the audit log records it too)."""
    return _bound.get().get("command_id")


@contextlib.contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Add fields (user_id, thread_id, run_id, command_id) to every log line inside the block; None values are skipped."""
    extra = {name: str(value) for name, value in fields.items() if value is not None}
    token = _bound.set({**_bound.get(), **extra})
    try:
        yield
    finally:
        _bound.reset(token)


def bind_request(**fields: str | None) -> None:
    """Add fields to every later log line of the current request (its task's context ends with it); None values are skipped."""
    _bound.set({**_bound.get(), **{name: str(value) for name, value in fields.items() if value is not None}})


@contextlib.contextmanager
def command_scope(*, user_id: str, thread_id: str) -> Iterator[str]:
    """One command: a fresh `command_id` (or the enclosing command's), bound with its user and thread."""
    command_id = current_command_id() or uuid.uuid4().hex[:16]
    with bound(user_id=user_id, thread_id=thread_id, command_id=command_id):
        yield command_id


def _fill(record: logging.LogRecord) -> None:
    for name, value in current_fields().items():
        if not hasattr(record, name):
            setattr(record, name, value)


def install() -> None:
    """Put the fields on every log record from now on (idempotent; the servers call it at import).

    The wrapped factory is logging's own process-wide setting; it is marked, so a second call sees it.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "adds_log_context", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        with contextlib.suppress(Exception):  # a log line must never fail because of its context
            _fill(record)
        return record

    factory.adds_log_context = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
