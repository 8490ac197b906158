"""Two users on one server: each sees only their own threads, runs, assistants, crons and store items."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import (
    GRAPH_ID,
    approve,
    pending_interrupt_values,
    resume,
    stream_run,
    thread_state,
    user_input,
)
from tests.support.e2e_servers import AuthServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

NOT_FOUND = 404


async def _refused(action: Awaitable[Any], what: str) -> None:
    """`action` must fail as "not found" (never succeed, never reveal the resource)."""
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await action
    assert refused.value.response.status_code == NOT_FOUND, (what, refused.value.response.status_code, refused.value.response.text)


async def _hidden(action: Awaitable[Any], what: str) -> None:
    """`action` reveals nothing: "not found" (`langgraph dev`), or nothing found (Aegra filters by owner)."""
    try:
        found = await action
    except httpx.HTTPStatusError as exc:
        status, text = exc.response.status_code, exc.response.text
        assert status == NOT_FOUND, (what, status, text)
        return
    assert not found, (what, found)


async def _stream_refused(stream: AsyncIterator[Any] | Awaitable[AsyncIterator[Any]], what: str) -> None:
    """A stream of another user's thread fails as "not found": as an HTTP 404, or (once the SSE response
    has started) as its only event, an `error` saying so."""
    try:
        if inspect.isawaitable(stream):
            stream = await stream
        events = [part async for part in stream]
    except httpx.HTTPStatusError as exc:
        status, text = exc.response.status_code, exc.response.text
        assert status == NOT_FOUND, (what, text)
        return
    assert [part.event for part in events] == ["error"], (what, events)
    assert "not found" in str(events[0].data).lower(), (what, events)


async def _pause_at_write(client: LangGraphClient, scripted_llm: ScriptedLLM, path: str) -> tuple[str, str]:
    """A thread of `client`'s user, paused for approval of a write to `path`; returns (thread id, trigger)."""
    trigger = f"e2e-own-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("write_file", file_path=path, content="owned\n"), say("written"))
    thread_id = (await client.threads.create())["thread_id"]
    paused = await stream_run(client, thread_id, input=user_input(f"write it ({trigger})"))
    assert [a["name"] for a in paused.action_requests] == ["write_file"], paused.describe()
    return thread_id, trigger


async def test_another_users_thread_is_not_found_for_every_operation(engine_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    async with engine_server.client("user-a") as alice, engine_server.client("user-b") as bob:
        thread_id, _ = await _pause_at_write(alice, scripted_llm, "/workspace/a.txt")
        [run] = await alice.runs.list(thread_id)
        run_id = run["run_id"]
        before = await thread_state(alice, thread_id)

        refusals: dict[str, Callable[[], Awaitable[Any]]] = {
            "get": lambda: bob.threads.get(thread_id),
            "state": lambda: bob.threads.get_state(thread_id),
            "history": lambda: bob.threads.get_history(thread_id),
            "update metadata": lambda: bob.threads.update(thread_id, metadata={"owner": "user-b"}),
            "delete": lambda: bob.threads.delete(thread_id),
            "run get": lambda: bob.runs.get(thread_id, run_id),
            "run join": lambda: bob.runs.join(thread_id, run_id),
            "run cancel": lambda: bob.runs.cancel(thread_id, run_id),
            "run delete": lambda: bob.runs.delete(thread_id, run_id),
            "new run": lambda: bob.runs.create(thread_id, GRAPH_ID, input=user_input("hijack")),
            "wait run": lambda: bob.runs.wait(thread_id, GRAPH_ID, input=user_input("hijack")),
        }
        for what, action in refusals.items():
            await _refused(action(), what)
        await _hidden(bob.runs.list(thread_id), "runs list")

        # Nobody writes a thread's state directly (server/state_writes.py): the same 403 for
        # another user's thread as for one that does not exist, so nothing is revealed.
        state_answers = []
        for candidate in (thread_id, str(uuid.uuid4())):
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await bob.threads.update_state(candidate, {"messages": []})
            state_answers.append((refused.value.response.status_code, refused.value.response.json()))
        assert state_answers[0] == state_answers[1], state_answers
        assert state_answers[0][0] == 403, state_answers

        # A copy of another user's thread gets exactly the answer for a thread that does not exist
        # (`langgraph dev`: 409 Conflict; Aegra has no copy route: 404). (Aegra has no thread count either.)
        answers = []
        for candidate in (thread_id, str(uuid.uuid4())):
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await bob.threads.copy(candidate)
            answers.append((refused.value.response.status_code, refused.value.response.json()))
        assert answers[0] == answers[1], answers
        assert answers[0] in [(409, {"detail": "Conflict"}), (404, {"detail": "Not Found"})], answers

        # Streams: joining the thread's or the run's stream, or streaming a new run, yields nothing of alice's.
        for what, stream in {
            "join thread stream": lambda: bob.threads.join_stream(thread_id),
            "join run stream": lambda: bob.runs.join_stream(thread_id, run_id),
            "stream run": lambda: bob.runs.stream(thread_id, GRAPH_ID, input=user_input("hijack")),
        }.items():
            await _stream_refused(stream(), what)

        found = await bob.threads.search(limit=1000)
        assert thread_id not in {t["thread_id"] for t in found}

        # Alice's thread is untouched: same owner, still paused at the same approval.
        after = await thread_state(alice, thread_id)
        assert (await alice.threads.get(thread_id))["metadata"]["owner"] == "user-a"
        assert pending_interrupt_values(after) == pending_interrupt_values(before)
        assert thread_id in {t["thread_id"] for t in await alice.threads.search(limit=1000)}


async def test_resuming_another_users_approval_runs_nothing(engine_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    async with engine_server.client("user-a") as alice, engine_server.client("user-b") as bob:
        thread_id, trigger = await _pause_at_write(alice, scripted_llm, "/workspace/approved-by-owner.txt")
        target = engine_server.paths.workspace(thread_id) / "approved-by-owner.txt"
        calls_before = len(scripted_llm.requests_for(trigger))

        await _refused(bob.runs.create(thread_id, GRAPH_ID, command=resume(approve())), "resume by another user")
        await _refused(bob.runs.wait(thread_id, GRAPH_ID, command=resume(approve())), "resume-and-wait by another user")
        assert not target.exists(), "another user's approval wrote the file"
        assert len(scripted_llm.requests_for(trigger)) == calls_before, "another user's resume reached the model"
        assert len(await alice.runs.list(thread_id)) == 1

        done = await stream_run(alice, thread_id, command=resume(approve()))
        assert not done.errors, done.describe()
        assert target.read_text(encoding="utf-8") == "owned\n"


async def test_runs_that_create_their_thread_belong_to_the_caller(engine_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    trigger = f"e2e-own-create-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, say("created by a run"))
    async with engine_server.client("user-a") as alice, engine_server.client("user-b") as bob:
        thread_id = str(uuid.uuid4())
        # A forged owner in the run's metadata and config is overwritten.
        await alice.runs.wait(
            thread_id,
            GRAPH_ID,
            input=user_input(trigger),
            if_not_exists="create",
            metadata={"owner": "user-b"},
            config={"metadata": {"owner": "user-b"}},
        )
        thread = await alice.threads.get(thread_id)
        assert thread["metadata"]["owner"] == "user-a", thread["metadata"]
        [run] = await alice.runs.list(thread_id)
        # Runs carry the owner in their metadata on `langgraph dev`; Aegra's runs have no metadata (they keep a user id).
        assert run.get("metadata", {}).get("owner", "user-a") == "user-a", run

        await _refused(bob.threads.get(thread_id), "get a run-created thread")
        # The same id with if_not_exists="create" does not hand bob the thread or a run in it.
        takeover = bob.runs.wait(thread_id, GRAPH_ID, input=user_input(trigger), if_not_exists="create")
        await _refused(takeover, "create over another's thread")
        assert len(await alice.runs.list(thread_id)) == 1
        assert thread_id not in {t["thread_id"] for t in await bob.threads.search(limit=1000)}

        # A stateless run (no thread id) is the caller's too.
        await bob.runs.wait(None, GRAPH_ID, input=user_input(trigger), metadata={"owner": "user-a"})
        assert all(t["metadata"]["owner"] == "user-b" for t in await bob.threads.search(limit=1000))


async def test_forged_owner_metadata_is_overwritten(engine_server: AuthServer) -> None:
    async with engine_server.client("user-a") as alice, engine_server.client("user-b") as bob:
        thread = await alice.threads.create(metadata={"owner": "user-b", "topic": "kept"})
        assert thread["metadata"]["owner"] == "user-a"
        assert thread["metadata"]["topic"] == "kept"
        updated = await alice.threads.update(thread["thread_id"], metadata={"owner": "user-b"})
        assert updated["metadata"]["owner"] == "user-a"
        await _refused(bob.threads.get(thread["thread_id"]), "get after a forged owner update")
        # Searching by someone else's owner value finds nothing of theirs.
        assert await bob.threads.search(metadata={"owner": "user-a"}) == []


async def test_assistants_the_builtin_one_is_shared_a_created_one_is_private(engine_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    trigger = f"e2e-own-asst-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, say("assistant reply"))
    async with engine_server.client("user-a") as alice, engine_server.client("user-b") as bob:
        [builtin] = [a for a in await alice.assistants.search(graph_id=GRAPH_ID) if a["metadata"].get("created_by") == "system"]
        builtin_id = builtin["assistant_id"]
        for user in (alice, bob):
            assert (await user.assistants.get(builtin_id))["graph_id"] == GRAPH_ID
            assert builtin_id in {a["assistant_id"] for a in await user.assistants.search()}
        # Pretending to be the server's own assistant, or a shared one, does not make it public, approvals off or not.
        mine = await alice.assistants.create(
            GRAPH_ID,
            name="alice's",
            context={"approval_tools": []},
            metadata={"created_by": "system", "owner": "user-b", "visibility": "everyone"},
        )
        assert mine["metadata"]["owner"] == "user-a"
        assert mine["metadata"].get("created_by") != "system"
        assistant_id = mine["assistant_id"]
        await _refused(bob.assistants.get(assistant_id), "get another's assistant")
        await _refused(bob.assistants.update(assistant_id, metadata={"x": 1}), "update another's assistant")
        await _refused(bob.assistants.delete(assistant_id), "delete another's assistant")
        assert assistant_id not in {a["assistant_id"] for a in await bob.assistants.search(limit=100)}  # Aegra's cap
        thread_id = (await bob.threads.create())["thread_id"]
        await _refused(bob.runs.wait(thread_id, assistant_id, input=user_input(trigger)), "run another's assistant")
        # Nobody can change or delete the built-in assistant.
        await _refused(alice.assistants.update(builtin_id, metadata={"owner": "user-a"}), "update the built-in assistant")
        await _refused(bob.assistants.delete(builtin_id), "delete the built-in assistant")
        # Alice uses her own assistant.
        own_thread = (await alice.threads.create())["thread_id"]
        result = await alice.runs.wait(own_thread, assistant_id, input=user_input(trigger))
        assert "assistant reply" in str(result)


async def test_store_items_are_per_user(engine_server: AuthServer) -> None:
    key = f"k-{uuid.uuid4().hex[:8]}"
    async with engine_server.client("user-a") as alice, engine_server.client("user-b") as bob:
        await alice.store.put_item(["notes"], key, {"secret": "alice's"})
        assert (await alice.store.get_item(["notes"], key))["value"] == {"secret": "alice's"}
        for namespace in (["notes"], ["user-a", "notes"]):
            await _hidden(bob.store.get_item(namespace, key), f"store item in {namespace}")
        assert (await bob.store.search_items(["notes"]))["items"] == []
        assert (await bob.store.search_items(["user-a"]))["items"] == []
        assert all(ns[0] == "user-b" for ns in (await bob.store.list_namespaces())["namespaces"])
        await bob.store.delete_item(["user-a", "notes"], key)
        assert (await alice.store.get_item(["notes"], key))["value"] == {"secret": "alice's"}
        # What a search returns can be used as it is.
        [item] = (await alice.store.search_items(["notes"]))["items"]
        assert (await alice.store.get_item(item["namespace"], key))["value"] == {"secret": "alice's"}


async def test_crons_are_per_user(engine_server: AuthServer) -> None:
    async with engine_server.client("user-a") as alice, engine_server.client("user-b") as bob:
        thread_id = (await alice.threads.create())["thread_id"]
        # `langgraph dev` answers with the cron, Aegra with its first run: find the cron by its thread.
        await alice.crons.create_for_thread(thread_id, GRAPH_ID, schedule="0 0 1 1 *", input=user_input("yearly"))
        [cron_id] = [c["cron_id"] for c in await alice.crons.search() if c.get("thread_id") == thread_id]
        assert cron_id in {c["cron_id"] for c in await alice.crons.search()}
        assert cron_id not in {c["cron_id"] for c in await bob.crons.search()}
        await _refused(bob.crons.delete(cron_id), "delete another's cron")
        bobs_thread = (await bob.threads.create())["thread_id"]
        hijack = bob.crons.create_for_thread(thread_id, GRAPH_ID, schedule="0 0 1 1 *", input=user_input("hijack"))
        await _refused(hijack, "cron on another's thread")
        assert cron_id in {c["cron_id"] for c in await alice.crons.search()}
        await alice.crons.delete(cron_id)
        del bobs_thread
