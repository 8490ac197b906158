"""Which thread and user the current LangGraph run is for, read from the run itself.

deepagents takes one backend instance per graph, but each thread needs its own
workspace. So, like deepagents' `StoreBackend` and `StateBackend`, the backend
reads the run's config (`get_config()`) and context (`get_runtime()`) inside each
call. The user id comes only from what the server sets from authentication:
`configurable["langgraph_auth_user_id"]` (langgraph_api), else the identity of
`configurable["langgraph_auth_user"]` (the user object both servers put there;
Aegra sets only this one and passes the rest of a client's config through). It is
never read from input or metadata, and the auth module refuses a run, assistant
or cron whose config names any other user than the caller (`server/auth.py`), so
a client cannot choose the run's user on either server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.config import get_config
from langgraph.runtime import get_runtime

from config.identity import SINGLE_USER_ID
from sandbox.disks.workspace import ThreadRef
from sandbox.runs.errors import SandboxError

USER_ID_KEY = "langgraph_auth_user_id"
"""Where langgraph_api puts the authenticated user's identity in a run's config."""
AUTH_USER_KEY = "langgraph_auth_user"
"""Where both servers put the authenticated user object (with its `identity`) in a run's config."""
IDENTITY_KEYS = (USER_ID_KEY, AUTH_USER_KEY)
"""Config keys that name the run's user: only the server sets them (the auth module refuses others)."""


def identity_of(value: object) -> str | None:
    """The user id an identity key's value names: the id itself, or a user object's (or dict's) `identity`."""
    if isinstance(value, str):
        return value or None
    identity = value.get("identity") if isinstance(value, Mapping) else getattr(value, "identity", None)
    return str(identity) if identity else None


def run_user_id(configurable: Mapping[str, Any]) -> str | None:
    """The authenticated user of a run, from what the server put in its config (None if nothing)."""
    return identity_of(configurable.get(USER_ID_KEY)) or identity_of(configurable.get(AUTH_USER_KEY))


def run_id_of(config: Mapping[str, Any]) -> str | None:
    """The id of the server run a config belongs to, or None outside a server run.

    Both servers put it in `configurable["run_id"]` (and Aegra also at the top); a run
    that Aegra re-queues after its worker died keeps its id, so this tells a re-run of
    the same request from a new request.
    """
    for source in (config.get("configurable") or {}, config.get("metadata") or {}, config):
        value = source.get("run_id")
        if value:
            return str(value)
    return None


def current_run_id() -> str | None:
    """`run_id_of` the config of the graph step this call is in (None outside one)."""
    try:
        return run_id_of(get_config())
    except RuntimeError:
        return None


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
    return ThreadRef(
        user_id=run_user_id(configurable) or SINGLE_USER_ID,
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
