"""A thread's sandboxes live as long as the thread: removal on delete, a reconciler, a graceful stop.

- `ThreadSandboxes.remove` is the one removal of a gone thread's containers,
  workspace and disk image; `server.thread_removal.ThreadRemoval` (middleware
  around `DELETE /threads/{id}` and `POST /threads/prune`) and the reconciler use it.
- `Reconciler` runs at startup and every `SANDBOX_RECONCILE_INTERVAL` seconds:
  containers, workspaces and disk images older than `SANDBOX_ORPHAN_GRACE` whose
  thread no longer exists, or whose name is another spelling of a thread id, are
  removed (a thread that exists is never touched; a failed existence check removes
  nothing; names that are not UUIDs are a script's, not ours to judge); session
  containers stopped for longer than `SANDBOX_RETENTION` are removed, keeping
  their workspace.
- `lifespan` starts the reconciler and, on a graceful stop, ends the MCP sessions (`sandbox.mcp`), stops the session
  containers this process used last and no command runs in (they start again on
  the thread's next command; other server processes keep theirs), removes this
  process's untaken pooled containers, then unmounts the disk images nothing
  uses any more (`server.shutdown`).

Thread existence is asked of the server running this process through
`server.engine` (langgraph_api's in-process client, or Aegra's database), past
authentication, so every user's threads count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from agent.command_journal import forget_thread
from sandbox.containers.deployment import SandboxDeployment, drain_all_pools, stop_all_sessions
from sandbox.containers.removal import list_containers, remove_expired_sessions, remove_thread, storage_ages
from sandbox.coordination.process_state import sandbox_process
from sandbox.disks.thread_ids import is_alias, uuid_form
from server import engine
from server.engine import ThreadExists
from server.shutdown import release_quota_disks
from server.startup import report_disk_quotas

logger = logging.getLogger(__name__)


class ThreadSandboxes:
    """The server's handle on sandboxes: the process's deployment and its Docker client, used from worker threads."""

    def __init__(self, deployment: SandboxDeployment) -> None:
        self.deployment = deployment
        self.settings = deployment.settings

    @property
    def api(self) -> Any:
        """The deployment's Docker client, connected on first use; it blocks, so only worker threads touch it."""
        return self.deployment.start()

    def _remove(self, thread_id: str) -> tuple[int, bool]:
        removed = remove_thread(self.api, self.settings, thread_id)  # its containers, and every process in them
        self.deployment.processes.remove_thread(thread_id)
        return removed

    def remove_expired(self) -> list[str]:
        """Remove session containers stopped longer than `SANDBOX_RETENTION` (blocking)."""
        return remove_expired_sessions(self.api, self.settings)

    async def remove(self, thread_id: str) -> None:
        """End a deleted thread's MCP sessions, remove its containers and workspace; errors are logged (the reconciler retries)."""
        try:
            await self.deployment.mcp.close_thread(thread_id)
        except Exception:
            logger.exception("Could not end the MCP sessions of deleted thread %s; removing its containers ends them", thread_id)
        try:
            containers, workspace = await asyncio.to_thread(self._remove, thread_id)
        except Exception:
            logger.exception("Could not remove the sandboxes of deleted thread %s; the reconciler will retry", thread_id)
            return
        logger.info("Thread %s deleted: removed %d container(s)%s", thread_id, containers, " and its workspace" if workspace else "")
        await forget_commands(thread_id)


async def forget_commands(thread_id: str) -> None:
    """Remove a deleted thread's command journal (`agent.command_journal`) from the server's store; errors are logged."""
    try:
        removed = await forget_thread(await engine.store(), thread_id)
    except Exception:
        logger.exception("Could not remove the command journal of deleted thread %s", thread_id)
        return
    if removed:
        logger.info("Thread %s deleted: removed %d command journal entr%s", thread_id, removed, "y" if removed == 1 else "ies")


class Reconciler:
    """Removes sandboxes of threads that no longer exist, and session containers stopped too long."""

    def __init__(self, sandboxes: ThreadSandboxes, thread_exists: ThreadExists = engine.thread_exists_or_unknown) -> None:
        self.sandboxes = sandboxes
        self.thread_exists = thread_exists

    def _orphan_candidates(self) -> set[str]:
        """Names (UUIDs, in any spelling) whose containers, workspace or disk image are older than the grace period."""
        settings = self.sandboxes.settings
        grace = settings.orphan_grace_seconds
        candidates = {tid for tid, age in storage_ages(settings).items() if age >= grace}
        now = time.time()
        candidates |= {c.thread_id for c in list_containers(self.sandboxes.api, settings) if now - c.created >= grace}
        return {tid for tid in candidates if uuid_form(tid) is not None}

    async def run_once(self) -> list[str]:
        """One pass; returns the names whose sandboxes were removed.

        A non-canonical spelling of a thread id names no thread's storage (such
        names are refused since), so what is left under one is removed whether or
        not the thread it spells exists.
        """
        removed: list[str] = []
        candidates = await asyncio.to_thread(self._orphan_candidates)
        for name in sorted(candidates):
            if is_alias(name):
                logger.info("Reconciler: removing sandboxes left under %r, another spelling of thread %s", name, uuid_form(name))
            elif await self.thread_exists(name) is False:
                logger.info("Reconciler: thread %s no longer exists; removing its sandboxes", name)
            else:
                continue
            await self.sandboxes.remove(name)
            removed.append(name)
        expired = await asyncio.to_thread(self.sandboxes.remove_expired)
        if expired:
            logger.info("Reconciler: removed %d session container(s) stopped longer than SANDBOX_RETENTION", len(expired))
        return removed

    async def run_forever(self) -> None:
        """Pass at startup, then every `SANDBOX_RECONCILE_INTERVAL` seconds; a failed pass is logged and retried."""
        while True:
            try:
                await self.run_once()
            except Exception:
                logger.exception("Sandbox reconciler pass failed; retrying in %ss", self.sandboxes.settings.reconcile_interval_seconds)
            await asyncio.sleep(self.sandboxes.settings.reconcile_interval_seconds)


async def close_mcp_sessions() -> None:
    """A graceful stop: every deployment of this process ends its MCP sessions (their servers and own containers)."""
    for deployment in list(sandbox_process().deployments):
        try:
            closed = await deployment.mcp.close_all()
        except Exception:
            logger.exception("Server stopping: could not end every MCP session")
            continue
        if closed:
            logger.info("Server stopping: ended %d MCP session(s)", closed)


def thread_sandboxes() -> ThreadSandboxes:
    """The server's handle on the process's deployment (`sandbox_process()`); importing never reads Docker."""
    return ThreadSandboxes(sandbox_process().deployment)


@contextlib.asynccontextmanager
async def lifespan(_app: object) -> AsyncIterator[None]:
    """Report disk quotas and start the reconciler; on a graceful stop, stop it and the session containers this process used last."""
    await asyncio.to_thread(report_disk_quotas)
    reconciler = asyncio.create_task(Reconciler(thread_sandboxes()).run_forever(), name="sandbox-reconciler")
    try:
        yield
    finally:
        reconciler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reconciler
        await close_mcp_sessions()
        stopped = await asyncio.to_thread(stop_all_sessions)
        if stopped:
            logger.info("Server stopping: stopped %d session sandbox container(s)", len(stopped))
        await asyncio.to_thread(drain_all_pools)
        await asyncio.to_thread(release_quota_disks)
