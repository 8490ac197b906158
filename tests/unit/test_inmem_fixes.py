"""The in-memory runtime's `@>` stand-in, corrected: a missing document contains nothing, as in PostgreSQL."""

from __future__ import annotations

import importlib

from server import inmem_fixes


def test_the_runtimes_own_function_fails_on_a_thread_without_values() -> None:
    ops = importlib.import_module(inmem_fixes.INMEM_OPS)
    assert not getattr(ops.is_jsonb_contained, "none_safe", False), "the unit tier never loads server.app"
    try:
        ops.is_jsonb_contained(None, {"a": 1})
    except TypeError:
        pass
    else:
        raise AssertionError("the runtime handles None itself now: drop server/inmem_fixes.py")


def test_the_corrected_function_answers_like_postgres() -> None:
    ops = importlib.import_module(inmem_fixes.INMEM_OPS)
    contained = inmem_fixes.none_safe(ops.is_jsonb_contained)
    assert contained(None, {"a": 1}) is False
    assert contained({"a": None}, {"a": {"b": 1}}) is False
    assert contained({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}) is True
    assert contained({"a": 1}, {"a": 2}) is False
    assert inmem_fixes.none_safe(contained) is contained


def test_apply_corrects_the_loaded_runtime_once() -> None:
    ops = importlib.import_module(inmem_fixes.INMEM_OPS)
    before = ops.is_jsonb_contained
    try:
        assert inmem_fixes.apply() is True
        assert ops.is_jsonb_contained(None, {"a": 1}) is False
        corrected = ops.is_jsonb_contained
        inmem_fixes.apply()
        assert ops.is_jsonb_contained is corrected
    finally:
        ops.is_jsonb_contained = before
