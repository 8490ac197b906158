"""A correction to `langgraph dev`'s in-memory runtime that a client could otherwise turn into a 500.

`langgraph_runtime_inmem.ops.is_jsonb_contained(superset, subset)` stands in for
PostgreSQL's `@>` in thread, assistant, cron and run searches. A thread created
with `threads.create` has no values (`None`) until its first run, and the function
then fails with `TypeError` on `key in None`: any user who owns such a thread and
searches or counts threads with a `values` filter got a 500. PostgreSQL answers
"not contained" for a missing document, and so does the corrected function.

Applied once, when our `http.app` is loaded inside `langgraph dev` (Aegra keeps
threads in PostgreSQL and never loads this runtime); the searches look the
function up as a module global, so replacing it there reaches every caller.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

INMEM_OPS = "langgraph_runtime_inmem.ops"


def none_safe(contained: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """`contained`, answering False where the document searched is not an object (PostgreSQL's `NULL @> x`)."""
    if getattr(contained, "none_safe", False):
        return contained

    def is_jsonb_contained(superset: Any, subset: Any) -> bool:
        if not isinstance(superset, dict):
            return False
        return contained(superset, subset)

    is_jsonb_contained.none_safe = True  # type: ignore[attr-defined]
    return is_jsonb_contained


def apply() -> bool:
    """Correct the in-memory runtime if this process runs it; returns whether it did."""
    ops = sys.modules.get(INMEM_OPS)
    if ops is None:
        return False
    ops.is_jsonb_contained = none_safe(ops.is_jsonb_contained)  # type: ignore[attr-defined]
    return True
