"""Stand-in `agent`: langchain's HITL middleware over fake, in-memory tools.

Served by `langgraph dev` in `tests/support/test_langgraph_server.py` to prove the
harness (server launcher, SDK helpers, scripted LLM) works on its own, so an e2e
failure against the real graph points at the product, not the harness.
"""

from __future__ import annotations

import os

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

_FILES: dict[str, str] = {}


@tool
def write_file(file_path: str, content: str) -> str:
    """Write `content` to `file_path` (in memory)."""
    _FILES[file_path] = content
    return f"Updated file {file_path}"


@tool
def execute(command: str) -> str:
    """Pretend to run `command`."""
    return f"ran: {command}\n[Command succeeded with exit code 0]"


@tool
def ls(path: str) -> str:
    """List the in-memory files under `path`."""
    return "\n".join(sorted(p for p in _FILES if p.startswith(path)))


model = ChatOpenAI(
    model=os.environ.get("LLM_MODEL", "glm-4.7"),
    base_url=os.environ["ZHIPUAI_API_BASE"],
    api_key=os.environ["ZHIPUAI_API_KEY"],  # type: ignore[arg-type]
    max_retries=0,
)
agent = create_agent(
    model,
    tools=[write_file, execute, ls],
    middleware=[HumanInTheLoopMiddleware(interrupt_on={"write_file": True, "execute": True})],
)
