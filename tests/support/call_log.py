"""Recording the calls a test lets through to a real object (Docker's client): what the code under test asked of it."""

from __future__ import annotations

from typing import Any

import pytest

Call = tuple[tuple[Any, ...], dict[str, Any]]
"""One call's positional and keyword arguments."""


def record_calls(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> list[Call]:
    """Wrap `target.<name>` for the test so each call's arguments are recorded before it goes through; the record."""
    calls: list[Call] = []
    real = getattr(target, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, recording)
    return calls
