"""deepagents' capture-at-source offload of large `execute` output works through our sandbox."""

from __future__ import annotations

import logging

import pytest

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings

pytestmark = pytest.mark.docker

CAPTURE = "/workspace/.deepagents/large_tool_results/call_1"


@pytest.mark.parametrize("mode", ["ephemeral", "session"])
def test_large_output_is_offloaded_to_the_workspace(settings: SandboxSettings, mode: str) -> None:
    deployment = SandboxDeployment(settings.with_overrides(mode=mode))
    try:
        box = DockerSandbox("offload", deployment)
        result = box.execute_with_offload("seq 1 100000", CAPTURE, max_inline_bytes=2000)
        assert result.offloaded is True
        assert result.response.exit_code == 0
        assert "100000" in result.response.output  # the preview's tail
        # The full output survives the container and is readable by the file tools.
        page = box.read(CAPTURE, offset=49_999, limit=2)
        assert page.error is None
        assert page.file_data["content"].splitlines() == ["50000", "50001"]
        assert (settings.workspaces_dir / "offload" / ".deepagents" / "large_tool_results" / "call_1").is_file()
    finally:
        deployment.close(remove_sessions=True)


def test_small_output_stays_inline(deployment: SandboxDeployment) -> None:
    result = DockerSandbox("inline", deployment).execute_with_offload("echo small; exit 3", CAPTURE, max_inline_bytes=2000)
    assert result.offloaded is False
    assert result.response.output == "small\n"
    assert result.response.exit_code == 3


def test_unrunnable_command_skips_the_capture_wrapper(deployment: SandboxDeployment, caplog: pytest.LogCaptureFixture) -> None:
    box = DockerSandbox("t", deployment, image="no-such-image-xyz:never")
    with caplog.at_level(logging.WARNING):
        result = box.execute_with_offload("echo hi", CAPTURE, max_inline_bytes=2000)
    assert result.offloaded is False
    assert "SANDBOX_IMAGE" in result.response.output
    assert not [r for r in caplog.records if "Capture wrapper" in r.getMessage()]
