"""Which thread and user the current LangGraph run is for, read from the run itself.

deepagents takes one backend instance per graph, but each thread needs its own
workspace. So, like deepagents' `StoreBackend` and `StateBackend`, the backend
reads the run's config (`get_config()`) and context (`get_runtime()`) inside each
call. The user id comes only from `configurable["langgraph_auth_user_id"]`, which
the server sets from authentication; clients cannot set it, and it is never read
from input or metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.config import get_config
from langgraph.runtime import get_runtime

from config.identity import SINGLE_USER_ID
from sandbox.errors import SandboxError
from sandbox.workspace import ThreadRef

USER_ID_KEY = "langgraph_auth_user_id"
"""Where the LangGraph server puts the authenticated user's identity in a run's config."""


def thread_ref_from(config: Mapping[str, Any], context: object, *, default_image: str) -> ThreadRef:
    """Build the `ThreadRef` of a run from its config and context (pure; unit-tested).

    Raises `SandboxError` without a thread id, `InvalidThreadIdError` for one that
    cannot name a workspace.
    """
    configurable = config.get("configurable") or {}
    thread_id = configurable.get("thread_id")
    if not thread_id:
        msg = "no LangGraph thread is active: run the agent on a thread, or build DockerSandbox(thread_id, deployment) directly"
        raise SandboxError(msg)
    user_id = configurable.get(USER_ID_KEY)
    return ThreadRef(
        user_id=str(user_id) if user_id else SINGLE_USER_ID,
        thread_id=str(thread_id),
        image=_image_override(context) or default_image,
    )


def current_thread_ref(*, default_image: str) -> ThreadRef:
    """The `ThreadRef` of the run this call belongs to (raises `SandboxError` outside a run)."""
    try:
        config: Mapping[str, Any] = get_config()
    except RuntimeError:
        config = {}
    try:
        context: object = get_runtime().context
    except (RuntimeError, LookupError, AttributeError):
        context = None
    return thread_ref_from(config, context, default_image=default_image)


def _image_override(context: object) -> str | None:
    """The run context's `sandbox_image` (a dict or an `AgentContext`), if any."""
    image = context.get("sandbox_image") if isinstance(context, dict) else getattr(context, "sandbox_image", None)
    return str(image) if image else None
