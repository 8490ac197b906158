"""Per-run context: what a client (or a LangGraph assistant) may set for one run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AgentContext:
    """Runtime context of the `agent` graph.

    Attributes:
        sandbox_image: Run this thread's commands in another local image than
            `SANDBOX_IMAGE` (for example one with Node.js). It must already be
            present or pullable; it never widens the sandbox's limits. In
            session mode it takes effect when the thread's container is created.

    """

    sandbox_image: str | None = None
