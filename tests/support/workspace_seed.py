"""Threads whose workspace already holds files, as if the agent had written them."""

from __future__ import annotations

import os

from langgraph_sdk.client import LangGraphClient

from config.sandbox import SandboxSettings
from sandbox.disks.workspace import create_workspace_dir
from tests.support.langgraph_server import E2EPaths


async def thread_with_files(client: LangGraphClient, e2e_paths: E2EPaths, files: dict[str, str]) -> str:
    """A new thread whose workspace already holds `files`, owned by the sandbox user as the agent's own would be."""
    thread_id = (await client.threads.create())["thread_id"]
    workspace = e2e_paths.workspace(thread_id)
    owner = (SandboxSettings().uid, SandboxSettings().gid)
    create_workspace_dir(workspace, owner)
    for relative, text in files.items():
        target = workspace / relative
        for parent in reversed(target.relative_to(workspace).parents[:-1]):
            if not (workspace / parent).exists():
                (workspace / parent).mkdir()
                os.chown(workspace / parent, *owner)
        target.write_text(text, encoding="utf-8")
        os.chown(target, *owner)
    return thread_id
