"""deepagents' own writes (a large `task` result it evicts) land in `/artifacts`, audited, never in `/workspace`.

The scripted subagent answers with more text than deepagents keeps in the
conversation, so deepagents writes it to a file by itself, with no approval.
That file must not appear among the user's workspace files; the agent's file
tools (`grep`) and its shell (`cat`, after approval) read it back from
`/artifacts`; the audit log names the write. Both sandbox modes.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import approve, content_text, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.e2e_servers import AuthServer
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

REPORT_LINES = 4000
"""About 140 kB of subagent answer: well past deepagents' 80 000-character eviction threshold."""


def files_under(folder: Path) -> set[str]:
    """Every file and folder below `folder`, relative (empty when it does not exist)."""
    if not folder.is_dir():
        return set()
    return {str(Path(root, name).relative_to(folder)) for root, dirs, files in os.walk(folder) for name in [*dirs, *files]}


def audit_records(path: Path, thread_id: str) -> list[dict[str, object]]:
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in records if r.get("thread") == thread_id]


async def evict_a_large_task_result(client: LangGraphClient, scripted_llm: ScriptedLLM, workspaces: Path, audit_log: Path) -> None:
    marker = f"artifact-{uuid.uuid4().hex[:8]}"
    main, sub = f"e2e-evict-main-{marker}", f"e2e-evict-sub-{marker}"
    report = "".join(f"{marker} line {n:05d} of the subagent's long report\n" for n in range(REPORT_LINES))
    scripted_llm.add_scenario(sub, say(report))
    scripted_llm.add_scenario(
        main,
        call("task", description=f"write the long report ({sub})", subagent_type="general-purpose"),
        call("grep", pattern=f"{marker} line 03999", path="/artifacts"),
        call("execute", command=f"cat /artifacts/large_tool_results/* | grep -c '^{marker} line'"),
        say("done"),
    )
    thread_id = (await client.threads.create())["thread_id"]
    workspace = workspaces / thread_id

    first = await stream_run(client, thread_id, input=user_input(f"delegate the report ({main})"))
    assert [a["name"] for a in first.action_requests] == ["execute"], first.describe()
    second = await stream_run(client, thread_id, command=resume(approve()))
    assert not second.errors, second.describe()

    # Nothing deepagents wrote by itself is among the user's files.
    assert files_under(workspace) == set(), f"deepagents wrote into /workspace: {sorted(files_under(workspace))}"

    state = await thread_state(client, thread_id)
    [task_result] = tool_messages(state, "task")
    assert "/artifacts/large_tool_results/" in content_text(task_result), content_text(task_result)[:500]
    [found] = tool_messages(state, "grep")
    assert "/artifacts/large_tool_results/" in content_text(found), content_text(found)
    [counted] = tool_messages(state, "execute")
    assert str(REPORT_LINES) in content_text(counted), content_text(counted)

    artifacts = [r for r in audit_records(audit_log, thread_id) if r.get("event") == "artifact"]
    assert [str(r["path"]).startswith("/artifacts/large_tool_results/") for r in artifacts] == [True], artifacts

    # The artifacts live beside the workspaces, and go with their thread.
    folder = workspaces.with_name(workspaces.name + ".artifacts") / thread_id
    assert [p.name for p in (folder / "large_tool_results").iterdir()] == [str(artifacts[0]["path"]).rsplit("/", 1)[1]]
    await client.threads.delete(thread_id)
    assert not folder.exists()


async def test_an_evicted_task_result_lands_in_artifacts(client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths) -> None:
    await evict_a_large_task_result(client, scripted_llm, e2e_paths.workspaces, e2e_paths.server_home / "audit.jsonl")


async def test_an_evicted_task_result_lands_in_artifacts_in_session_mode(
    session_client: LangGraphClient, session_server: LangGraphServer, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths
) -> None:
    await evict_a_large_task_result(
        session_client, scripted_llm, session_server.workdir / "workspaces", e2e_paths.server_home / "audit.jsonl"
    )


async def test_an_evicted_task_result_lands_in_artifacts_on_each_engine(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    paths = engine_server.paths
    await evict_a_large_task_result(engine_client, scripted_llm, paths.workspaces, paths.server_home / "audit.jsonl")
