"""A command's server log line names its user, thread, run and command id, and its audit record the same id.

Both servers render our records through their structlog formatter (`key=value`
pairs on `langgraph dev`'s console, JSON on Aegra and with `LOG_JSON=true`); `sandbox.runs.log_context` puts the fields on
every record of a run, so an operator can go from an audit record to the log
lines of that one command and back.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.support.agent_client import approve, resume, stream_run, user_input
from tests.support.e2e_servers import AuthServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

_FIELD = re.compile(r"\b(user_id|thread_id|run_id|command_id)=(\S+)")
FIELDS = ("user_id", "thread_id", "run_id", "command_id")


def _fields(line: str) -> dict[str, str]:
    """The four fields of one rendered log line: JSON (Aegra, `LOG_JSON=true`) or `key=value` (langgraph dev's console)."""
    start = line.find("{")
    if start >= 0:
        try:
            record = json.loads(line[start:])
        except ValueError:
            record = None
        if isinstance(record, dict):
            return {name: str(record[name]) for name in FIELDS if name in record}
    return dict(_FIELD.findall(line))


async def test_a_commands_log_line_carries_user_thread_run_and_command_id(engine_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    auth_server = engine_server
    marker = f"logged-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(marker, call("execute", command=f"echo {marker}"), say("done"))
    offset = auth_server.server.log_size()
    async with auth_server.client("log-user") as client:
        thread_id = (await client.threads.create())["thread_id"]
        paused = await stream_run(client, thread_id, input=user_input(f"run it ({marker})"))
        assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
        done = await stream_run(client, thread_id, command=resume(approve()))
        assert not done.errors, done.describe()
        run_ids = {run["run_id"] for run in await client.runs.list(thread_id)}

    audit = [json.loads(line) for line in (auth_server.paths.server_home / "audit.jsonl").read_text().splitlines()]
    commands = [r for r in audit if r.get("event") == "command" and r.get("thread") == thread_id]
    assert len(commands) == 1, commands
    record = commands[0]
    assert record["user"] == "log-user"
    assert record["run"] in run_ids, (record, run_ids)
    assert re.fullmatch(r"[0-9a-f]{16}", record["command_id"]), record

    lines = [line for line in auth_server.server.log_since(offset, max_chars=2_000_000).splitlines() if "Sandbox command finished" in line]
    mine = [fields for fields in map(_fields, lines) if fields.get("thread_id") == thread_id]
    assert mine == [{"user_id": "log-user", "thread_id": thread_id, "run_id": record["run"], "command_id": record["command_id"]}], lines
