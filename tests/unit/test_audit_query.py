"""`python -m server.audit_query` answers "what did user X's agent run yesterday" across rotated files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox.runs.audit import AuditLog
from server.audit_query import main, parse_time

NOW = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _command(time: str, user: str, command: str) -> dict[str, object]:
    return {"time": time, "event": "command", "user": user, "thread": "t-1", "command_id": "c" * 16, "command": command, "exit_code": 0}


@pytest.fixture
def rotated_log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, max_bytes=300, keep=50)
    log.append(_command("2026-12-03T23:59:59.000Z", "alice", "echo two-days-ago"))
    for hour in range(0, 24, 3):
        log.append(_command(f"2026-12-04T{hour:02d}:00:00.000Z", "alice", f"echo yesterday-{hour:02d}"))
        log.append(_command(f"2026-12-04T{hour:02d}:30:00.000Z", "bob", f"echo bob-{hour:02d}"))
    log.append({"time": "2026-12-04T12:00:00.000Z", "event": "approval", "user": "alice", "thread": "t-1", "tool": "execute"})
    log.append(_command("2026-12-05T00:00:00.000Z", "alice", "echo today"))
    assert len(list(tmp_path.glob("audit.jsonl.*"))) > 3, "the fixture should span rotated files"
    return path


def _run(*argv: str) -> list[str]:
    out = io.StringIO()
    assert main(list(argv), out=out, now=NOW) == 0
    return out.getvalue().splitlines()


def test_what_alices_agent_ran_yesterday(rotated_log: Path) -> None:
    lines = _run("--file", str(rotated_log), "--user", "alice", "--on", "yesterday", "--kind", "command")
    assert [line.rsplit("  ", 1)[1] for line in lines] == [f"echo yesterday-{h:02d}" for h in range(0, 24, 3)]
    assert all("alice" in line and "id=cccccccccccccccc" in line for line in lines)


def test_since_yesterday_json_and_limit(rotated_log: Path) -> None:
    records = [json.loads(line) for line in _run("--file", str(rotated_log), "--user", "alice", "--since", "yesterday", "--json")]
    assert records[0]["command"] == "echo yesterday-00"
    assert records[-1]["command"] == "echo today"
    assert "approval" in {r["event"] for r in records}
    last = _run("--file", str(rotated_log), "--since", "yesterday", "--kind", "command", "--limit", "2", "--json")
    assert [json.loads(line)["command"] for line in last] == ["echo bob-21", "echo today"]


def test_times_it_reads() -> None:
    assert parse_time("2h", now=NOW) == datetime(2026, 12, 5, 7, 30, tzinfo=UTC)
    assert parse_time("yesterday", now=NOW) == datetime(2026, 12, 4, tzinfo=UTC)
    assert parse_time("2026-12-01", now=NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_time("2026-12-01T10:00Z", now=NOW) == datetime(2026, 12, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "argv",
    [["--since", "last tuesday"], ["--on", "today", "--since", "1h"], ["--kind", "nonsense"], ["--limit", "-1"], ["--until", "99x"]],
)
def test_bad_arguments_exit_2_with_a_reason(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--file", str(tmp_path / "audit.jsonl"), *argv], out=io.StringIO(), now=NOW)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_the_module_runs_from_the_command_line(rotated_log: Path) -> None:
    env = {**os.environ, "SANDBOX_AUDIT_LOG": str(rotated_log)}
    done = subprocess.run(
        [sys.executable, "-m", "server.audit_query", "--user", "bob", "--kind", "command", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 8
