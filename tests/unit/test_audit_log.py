"""The audit log rotates by size, keeps its old files, loses nothing across processes, and follows its schema."""

from __future__ import annotations

import json
import multiprocessing
import re
from pathlib import Path

from sandbox.runs.audit import COMMON_FIELDS, RECORD_FIELDS, AuditLog, rotated_path
from sandbox.runs.audit_read import AuditQuery, AuditReader, audit_files
from sandbox.runs.log_context import bound, command_scope

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_past_the_size_the_file_rotates_and_only_keep_old_files_stay(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, max_bytes=400, keep=2)
    for number in range(40):
        log.append({"event": "file", "user": "u", "thread": "t", "operation": "upload", "path": f"/workspace/{number:03d}"})
    assert audit_files(path) == [rotated_path(path, 2), rotated_path(path, 1), path]
    assert not rotated_path(path, 3).exists()
    for file in audit_files(path):
        assert file.stat().st_size <= 400, file
        assert file.stat().st_mode & 0o777 == 0o600
    kept = [r["path"] for r in AuditReader(path).records()]
    # Oldest first, contiguous, ending with the last record written: only whole old files were dropped.
    assert kept[-1] == "/workspace/039"
    assert kept == [f"/workspace/{n:03d}" for n in range(40 - len(kept), 40)]


def _writer(path: Path, name: str, count: int) -> None:
    log = AuditLog(path, max_bytes=2048, keep=1000)
    for number in range(count):
        log.append({"event": "file", "user": name, "thread": "t", "operation": "upload", "path": f"/workspace/{number}"})


def test_two_processes_rotating_one_file_lose_no_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(path, name, 150)) for name in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    reader = AuditReader(path)
    records = list(reader.records())
    assert reader.skipped == 0
    for name in ("a", "b"):
        assert sorted(int(str(r["path"]).rsplit("/", 1)[1]) for r in records if r["user"] == name) == list(range(150))
    assert len(audit_files(path)) > 3


def test_every_writer_follows_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    with bound(run_id="r-1"), command_scope(user_id="u", thread_id="t") as command_id:
        log.command(user_id="u", thread_id="t", command="x" * 20_000, exit_code=None, duration_ms=1.25, error="boom", command_id=command_id)
        log.artifact(user_id="u", thread_id="t", path="/artifacts/a", size=3, operation="write")
        log.decision(user_id="u", thread_id="t", tool="execute", arguments={"command": "ls"}, decision="edit", edited_arguments={"a": 1})
        log.mcp_call(user_id="u", thread_id="t", server="notes", tool="add", arguments={"a": 1}, duration_ms=2.5, error="ended")
    records = _lines(path)
    assert [r["event"] for r in records] == ["command", "artifact", "approval", "mcp"]
    for record in records:
        allowed = set(COMMON_FIELDS) | set(RECORD_FIELDS[str(record["event"])])
        assert set(record) <= allowed, (record["event"], set(record) - allowed)
        assert set(COMMON_FIELDS) <= set(record)
    command = records[0]
    assert (command["run"], command["command_id"], command["command_truncated"]) == ("r-1", command_id, True)
    assert records[1]["command_id"] == command_id


def test_the_docs_describe_every_kind_and_field() -> None:
    text = DOCS.read_text(encoding="utf-8")
    sections = dict(re.findall(r"^### `([a-z_]+)`\n(.*?)(?=^### |\Z)", text, flags=re.MULTILINE | re.DOTALL))
    assert set(sections) == set(RECORD_FIELDS), set(sections) ^ set(RECORD_FIELDS)
    for kind, fields in RECORD_FIELDS.items():
        documented = set(re.findall(r"^\| `([a-z_]+)` \|", sections[kind], flags=re.MULTILINE))
        assert documented == set(fields), (kind, documented ^ set(fields))
    common = re.search(r"^## Every record\n(.*?)(?=^## )", text, flags=re.MULTILINE | re.DOTALL)
    assert common is not None
    assert set(re.findall(r"^\| `([a-z_]+)` \|", common.group(1), flags=re.MULTILINE)) == set(COMMON_FIELDS)


def test_a_query_filters_by_user_kind_thread_and_skips_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"event": "command", "user": "a", "thread": "t"}\nnot json\n[1]\n{"event": "file", "user": "a", "thread": "u"}\n')
    reader = AuditReader(path)
    assert [r["event"] for r in reader.records(AuditQuery(user="a", kinds=frozenset({"file"})))] == ["file"]
    assert reader.skipped == 2
    assert [r["thread"] for r in AuditReader(path).newest(1, AuditQuery(user="a"))] == ["u"]
