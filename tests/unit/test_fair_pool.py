"""The sandbox's fair pool: bounded, no user takes every thread, waiters served in order, apart from the default executor."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from config.env import SettingsError
from config.sandbox import SandboxSettings
from sandbox import SandboxDeployment
from sandbox.coordination.fair_pool import FairPool

WAIT = 10.0
"""Seconds any step may take before the test gives up (steps take milliseconds)."""


class TooMany(Exception):
    """What the tests' pools raise for a user past their share."""


def _refuse(user: str, share: int) -> Exception:
    return TooMany(f"{user} holds {share}")


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Work that blocks until the test opens the gate (always opened at the end)."""
    event = threading.Event()
    yield event
    event.set()


def _blocked(gate: threading.Event, log: list[str] | None = None, name: str = "") -> str:
    if log is not None:
        log.append(name)
    assert gate.wait(WAIT), "the test never opened the gate"
    return threading.current_thread().name


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(int(WAIT * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("the pool never got there")


async def test_one_user_is_refused_before_holding_every_thread(gate: threading.Event) -> None:
    pool = FairPool("test-pool", threads=3, share=8, refuse=_refuse)
    assert pool.share == 2, "a share as large as the pool would let one user take it all"
    held = [asyncio.create_task(pool.run("user-a", _blocked, gate)) for _ in range(2)]
    await _until(lambda: pool.held("user-a") == 2)

    with pytest.raises(TooMany, match="user-a holds 2"):
        await pool.run("user-a", _blocked, gate)
    async with asyncio.timeout(WAIT):  # another user still gets a thread at once
        assert await pool.run("user-b", lambda: "user-b ran") == "user-b ran"

    gate.set()
    names = await asyncio.gather(*held)
    assert all(name.startswith("test-pool") for name in names), names
    assert await pool.run("user-a", lambda: "again") == "again"  # threads come back when work ends
    pool.shutdown()


async def test_work_never_waits_for_the_default_executor(gate: threading.Event) -> None:
    loop = asyncio.get_running_loop()
    starved = ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(starved)
    blocker = loop.run_in_executor(None, _blocked, gate)  # the default executor's only thread is busy
    pool = FairPool("test-pool", threads=4, share=2, refuse=_refuse)
    async with asyncio.timeout(WAIT):
        assert await pool.run("user-a", lambda: "ran") == "ran"
    gate.set()
    await blocker
    pool.shutdown()


async def test_a_full_pool_serves_waiters_in_order_skipping_users_at_their_share(gate: threading.Event) -> None:
    pool = FairPool("test-pool", threads=3, share=2)  # no refusal: past the share a user waits
    second_gate = threading.Event()
    order: list[str] = []
    a_work = [asyncio.create_task(pool.run("user-a", _blocked, gate)) for _ in range(2)]
    b_work = asyncio.create_task(pool.run("user-b", _blocked, second_gate))
    await _until(lambda: pool.held("user-a") == 2 and pool.held("user-b") == 1)

    a_third = asyncio.create_task(pool.run("user-a", _blocked, gate, order, "a-third"))  # first in line, but at share
    await _until(lambda: pool.waiting() == 1)
    c_first = asyncio.create_task(pool.run("user-c", _blocked, gate, order, "c-first"))
    await _until(lambda: pool.waiting() == 2)

    second_gate.set()  # user-b's thread frees: user-a is at their share, so user-c gets it
    await b_work
    await _until(lambda: order == ["c-first"])
    assert pool.held("user-a") == 2
    assert pool.waiting() == 1

    gate.set()
    await asyncio.gather(*a_work, a_third, c_first)
    assert order == ["c-first", "a-third"]
    assert pool.held("user-a") == pool.held("user-c") == pool.waiting() == 0
    pool.shutdown()


async def test_a_cancelled_caller_keeps_its_thread_counted_until_the_work_ends(gate: threading.Event) -> None:
    pool = FairPool("test-pool", threads=2, share=1, refuse=_refuse)
    running = asyncio.create_task(pool.run("user-a", _blocked, gate))
    await _until(lambda: pool.held("user-a") == 1)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    with pytest.raises(TooMany):  # the work still runs on its thread
        await pool.run("user-a", lambda: None)

    waiting_gate = threading.Event()
    b_running = asyncio.create_task(pool.run("user-b", _blocked, waiting_gate))
    await _until(lambda: pool.held("user-b") == 1)
    queued = asyncio.create_task(pool.run("user-c", lambda: "never"))
    await _until(lambda: pool.waiting() == 1)
    queued.cancel()  # a waiter that gives up leaves the line
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert pool.waiting() == 0

    gate.set()
    waiting_gate.set()
    await b_running
    await _until(lambda: pool.held("user-a") == 0)
    assert await pool.run("user-a", lambda: "free again") == "free again"
    pool.shutdown()


async def test_callers_on_other_event_loops_share_the_pool(gate: threading.Event) -> None:
    pool = FairPool("test-pool", threads=2, share=1)
    holder = asyncio.create_task(pool.run("user-a", _blocked, gate))
    b_gate = threading.Event()
    other = asyncio.create_task(pool.run("user-b", _blocked, b_gate))
    await _until(lambda: pool.held("user-a") == pool.held("user-b") == 1)

    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(pool.run("user-c", lambda: "other loop"))))
    thread.start()  # waits on its own loop for a thread of the full pool
    await _until(lambda: pool.waiting() == 1)
    gate.set()
    await holder
    await asyncio.to_thread(thread.join, WAIT)
    assert result == ["other loop"]
    b_gate.set()
    await other
    pool.shutdown()


def test_a_pool_of_one_thread_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 threads"):
        FairPool("test-pool", threads=1, share=1)


@pytest.mark.parametrize(
    ("env", "threads", "share"),
    [
        ({}, 32, 8),  # auto: four users' running caps
        ({"SANDBOX_COMMAND_THREADS": "auto", "SANDBOX_MAX_RUNNING_PER_USER": "64"}, 256, 64),
        ({"SANDBOX_COMMAND_THREADS": "0", "SANDBOX_MAX_RUNNING_PER_USER": "1"}, 4, 1),
        ({"SANDBOX_COMMAND_THREADS": "5"}, 5, 4),  # smaller than a user's cap: the share leaves others a thread
    ],
)
def test_the_command_pool_is_sized_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], threads: int, share: int
) -> None:
    for var in ("SANDBOX_COMMAND_THREADS", "SANDBOX_MAX_RUNNING_PER_USER"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    deployment = SandboxDeployment(SandboxSettings.from_env())
    assert (deployment.commands.threads, deployment.commands.share) == (threads, share)


def test_a_command_pool_of_one_thread_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_COMMAND_THREADS", "1")
    with pytest.raises(SettingsError, match="SANDBOX_COMMAND_THREADS=1 must be at least 2"):
        SandboxSettings.from_env()


def _run_in_child(pool: FairPool, results: Any) -> None:
    """In a forked child: run one call as the user whose thread the parent holds, from a fresh thread and loop."""
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(asyncio.run(pool.run("user-a", lambda: "child ran"))))
    worker.start()
    worker.join(WAIT)
    results.put(outcome[0] if outcome else "no answer")


async def test_a_forked_child_starts_with_an_empty_pool(gate: threading.Event) -> None:
    pool = FairPool("test-pool", threads=2, share=1, refuse=_refuse)
    held = asyncio.create_task(pool.run("user-a", _blocked, gate))
    await _until(lambda: pool.held("user-a") == 1)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_run_in_child, args=(pool, results))
    child.start()
    try:
        assert await asyncio.to_thread(results.get, True, WAIT) == "child ran"
    finally:
        await asyncio.to_thread(child.join, WAIT)
    assert pool.held("user-a") == 1, "the parent's own count stays"
    gate.set()
    await held
    pool.shutdown()
