"""deepagents' capture-at-source offload of large `execute` output works through our sandbox."""

from __future__ import annotations

import json
import logging

import pytest

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings

pytestmark = pytest.mark.docker

CAPTURE = "/artifacts/large_tool_results/call_1"
"""Where deepagents captures large `execute` output: the thread's `/artifacts`, not its `/workspace`."""


def audit_events(settings: SandboxSettings, event: str) -> list[dict[str, object]]:
    lines = settings.audit_log.read_text(encoding="utf-8").splitlines() if settings.audit_log.exists() else []
    return [r for r in map(json.loads, lines) if r.get("event") == event]


@pytest.mark.parametrize("mode", ["ephemeral", "session"])
def test_large_output_is_offloaded_to_the_artifacts(settings: SandboxSettings, mode: str) -> None:
    deployment = SandboxDeployment(settings.with_overrides(mode=mode))
    try:
        box = DockerSandbox("offload", deployment)
        result = box.execute_with_offload("seq 1 100000", CAPTURE, max_inline_bytes=2000)
        assert result.offloaded is True
        assert result.response.exit_code == 0
        assert "100000" in result.response.output  # the preview's tail
        # The full output survives the container and is readable by the file tools and the shell.
        page = box.read(CAPTURE, offset=49_999, limit=2)
        assert page.error is None
        assert page.file_data["content"].splitlines() == ["50000", "50001"]
        assert box.execute(f"wc -l < {CAPTURE}").output.strip() == "100000"
        assert (settings.artifacts_dir / "offload" / "large_tool_results" / "call_1").is_file()
        assert sorted(p.name for p in (settings.workspaces_dir / "offload").iterdir()) == []
        [captured] = audit_events(settings, "artifact")
        assert captured["path"] == CAPTURE
        assert captured["operation"] == "execute capture"
    finally:
        deployment.close(remove_sessions=True)


@pytest.mark.parametrize("mode", ["ephemeral", "session"])
def test_deepagents_own_writes_land_in_artifacts_audited(settings: SandboxSettings, mode: str) -> None:
    """An evicted tool result is a backend `write` (summarized history: `write`/`edit`, media: upload)."""
    deployment = SandboxDeployment(settings.with_overrides(mode=mode))
    try:
        box = DockerSandbox("evicted", deployment)
        evicted = "/artifacts/large_tool_results/call_2"
        assert box.write(evicted, "line 1\nline 2\n").error is None
        assert box.edit(evicted, "line 2", "line two").error is None
        [upload] = box.upload_files([("/artifacts/conversation_history/media/x.png", b"\x89PNG")])
        assert upload.error is None
        assert box.read(evicted).file_data["content"].splitlines() == ["line 1", "line two"]  # type: ignore[index]
        assert box.execute(f"cat {evicted}").output == "line 1\nline two\n"
        assert not (settings.workspaces_dir / "evicted").exists() or not any((settings.workspaces_dir / "evicted").iterdir())
        records = [(r["path"], r["operation"], r.get("bytes")) for r in audit_events(settings, "artifact")]
        assert records == [
            (evicted, "write", 14),
            (evicted, "edit", None),
            ("/artifacts/conversation_history/media/x.png", "upload", 4),
        ]
        # A write to the user's files is not an artifact (the approval log covers it).
        assert box.write("/workspace/mine.txt", "x").error is None
        assert len(audit_events(settings, "artifact")) == 3
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
