"""The server's own image (`SANDBOX_IMAGE`), when missing, is pulled once, with a log line, when a registry answers."""

from __future__ import annotations

import logging

import docker
import pytest

from sandbox.containers.docker_api import ImageGate
from tests.support.tiny_registry import TinyRegistry

pytestmark = pytest.mark.docker


def test_missing_image_is_pulled_once_with_a_log_line(
    registry: TinyRegistry, docker_api: docker.APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    gate = ImageGate(registry.image)
    with caplog.at_level(logging.WARNING, logger="sandbox.containers.docker_api"):
        gate.ensure(docker_api, registry.image)
        gate.ensure(docker_api, registry.image)
    assert docker_api.inspect_image(registry.image)["Id"]
    assert registry.manifest_requests == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("pulling it once" in m and registry.image in m for m in messages), messages
    assert any(m.startswith("Pulled sandbox image") for m in messages), messages
