"""Which request bodies write a thread's graph state directly (refused by `StateWriteGuard`)."""

from __future__ import annotations

from typing import Any

import pytest

from server.state_writes import state_write_fields


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("/threads/t1/state", {"values": {"messages": []}}, ["values"]),
        ("/threads/t1/state", {"values": None, "as_node": "tools"}, ["as_node"]),
        ("/threads/t1/state/", {"values": {}, "as_node": "x"}, ["values", "as_node"]),
        ("/threads", {"supersteps": [{"updates": []}]}, ["supersteps"]),
        # Reads and everything else pass.
        ("/threads/t1/state", {"subgraphs": True}, []),
        ("/threads", {"metadata": {}}, []),
        ("/threads", {"supersteps": []}, []),
        ("/threads/t1/runs", {"values": {}}, []),
        ("/threads/t1/state/checkpoint", {"values": {}}, []),
    ],
)
def test_state_write_fields(path: str, body: dict[str, Any], fields: list[str]) -> None:
    assert state_write_fields(path, body) == fields
