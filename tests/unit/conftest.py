"""Unit tests need no Docker Engine and no server: point Docker at nothing, so any use fails loudly."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_docker(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    socket = tmp_path_factory.getbasetemp() / "no-docker-here.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
