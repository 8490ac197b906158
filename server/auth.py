"""Who is calling, and what they may touch: the `langgraph_sdk.Auth` object `langgraph.json` loads.

Authentication (`server.credentials`): with `AUTH_JWT_SECRET` or a JWKS configured,
every request needs a JWT (`Authorization: Bearer <JWT>` or `X-Api-Key: <JWT>`) whose
subject is not a reserved id, and gets 401 with a reason otherwise. With nothing
configured the server is single-user: this module is still installed (so every
resource is still stamped with an owner) and every request is `SINGLE_USER_ID`.

Ownership: every thread (also one a run creates with `if_not_exists="create"`),
run, cron and assistant a user creates carries `metadata.owner = <user id>`,
whatever the client sent; every read, search, update and delete is filtered on it,
so another user's resources are "not found". The built-in `agent` assistant
(created by the server, `created_by: system`) is readable by everyone, and so is an
assistant an admin (`AUTH_ADMIN_USERS`) creates (`metadata.visibility` is stamped
`everyone` for admins, `owner` for everyone else, whatever the client sent). Store
items live under a namespace that starts with the owner's id.

Only `langgraph_sdk.Auth` is used, so any server honouring it (langgraph dev,
LangGraph Platform, Aegra) loads this file unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from langgraph_sdk import Auth

from sandbox.coordination.process_state import sandbox_process
from sandbox.disks.thread_ids import NonCanonicalThreadIdError, canonical_thread_id
from sandbox.runs.audit import AuditLog, audit_log
from sandbox.runs.errors import InvalidThreadIdError
from sandbox.runs.run_context import IDENTITY_KEYS, identity_of
from server.approval_audit import record_resume_decisions
from server.approval_checks import refuse_bad_policy, refuse_bad_resume, refuse_disallowed_image, run_request
from server.credentials import SETTINGS, authenticate_headers, is_admin
from server.engine import OWNER_KEY, StoredThread, read_once

logger = logging.getLogger(__name__)


SYSTEM_CREATOR = {"created_by": "system"}
"""Metadata the server puts on the assistants it creates from `langgraph.json` graphs."""
VISIBILITY_KEY = "visibility"
"""Assistant metadata saying who may read and run it; only this module writes it."""
SHARED_WITH_EVERYONE = {VISIBILITY_KEY: "everyone"}
"""The visibility of an admin's assistant; every other user's is `owner`."""

logger.warning("Auth: %s", SETTINGS.describe())

auth = Auth()


def approval_audit() -> AuditLog:
    """The audit log (`SANDBOX_AUDIT_LOG`) approval decisions are appended to (one writer per process and file)."""
    return audit_log(sandbox_process().settings)


@auth.authenticate
async def authenticate(headers: Mapping[Any, Any] | None) -> Auth.types.MinimalUserDict:
    """Every request: the user its token names (`server.credentials`), or the single user when auth is off.

    The parameter is `headers`, the one both servers fill: langgraph_api by name,
    Aegra as the first positional argument.
    """
    user_id = await authenticate_headers(headers)
    return {"identity": user_id, "display_name": user_id, "is_authenticated": True}


# --------------------------------------------------------------------------- #
# Ownership
# --------------------------------------------------------------------------- #


def owner_filter(ctx: Auth.types.AuthContext) -> dict[str, Any]:
    """Only what the caller owns."""
    return {OWNER_KEY: ctx.user.identity}


def owns_thread(ctx: Auth.types.AuthContext, thread: StoredThread) -> bool:
    """Whether a stored thread (as `server.engine` reads it) is the caller's."""
    return thread.owner == ctx.user.identity


def stamp_owner(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Overwrite the owner in a create/update request's metadata with the caller.

    A client may send any metadata, including another user's id or the server's
    `created_by: system` marker; both are replaced with the caller before
    anything is stored. (Replaced, not removed: Aegra merges the handler's
    metadata over the request's, so a removed key would come back.)
    `None` metadata on an update means "leave it unchanged", which keeps the owner.
    """
    metadata = value.get("metadata")
    if metadata is None:
        if "metadata" in value:
            return
        metadata = value["metadata"] = {}
    if "created_by" in metadata:
        metadata["created_by"] = ctx.user.identity
    metadata[OWNER_KEY] = ctx.user.identity


def refuse_identity_keys(ctx: Auth.types.AuthContext, *sources: object) -> None:
    """The run's user is the server's to set (`sandbox.runs.run_context`): 422 for config that names another.

    langgraph_api writes these keys itself (before this handler sees the value);
    Aegra writes only the user object and passes the rest of a client's config
    through to the run. So any identity key found must name the caller.
    """
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        config = source.get("config")
        for part in (source.get("context"), config.get("configurable") if isinstance(config, Mapping) else None):
            if not isinstance(part, Mapping):
                continue
            if keys := sorted(k for k in IDENTITY_KEYS if part.get(k) is not None and identity_of(part[k]) != ctx.user.identity):
                msg = f"{', '.join(keys)} must not name another user: the server sets the run's user from authentication"
                raise Auth.exceptions.HTTPException(status_code=422, detail=msg)


def refuse_thread_alias(value: Mapping[str, Any]) -> None:
    """422 for a thread id in another spelling of a UUID (Aegra would store it as a thread of its own).

    Its sandbox would refuse it anyway (`sandbox.disks.thread_ids`); refusing it here
    means such a thread never exists. langgraph_api passes parsed UUIDs, never aliases.
    """
    thread_id = value.get("thread_id")
    if isinstance(thread_id, str):
        try:
            canonical_thread_id(thread_id)
        except NonCanonicalThreadIdError as exc:
            raise Auth.exceptions.HTTPException(status_code=422, detail=str(exc)) from None
        except InvalidThreadIdError:
            pass  # not a UUID spelling: the server's own rules apply


@auth.on.threads.create
async def on_thread_create(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:
    """A new thread is the caller's (an existing one is only reused if it is theirs)."""
    refuse_thread_alias(value)
    stamp_owner(ctx, value)
    return owner_filter(ctx)


@auth.on.threads.create_run
async def on_run_create(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:
    """A run is the caller's; its thread must be theirs, or is created as theirs.

    The server creates the thread of a run with `if_not_exists="create"` from the
    run's metadata without calling `threads.create`, so stamping the run's
    metadata is what makes that thread the caller's too.

    A resume is checked first (`server/approval_checks.py`): a malformed answer
    gets a 4xx before the run exists, so it can never stick to the thread. Only
    a thread the caller owns is read for that; any other gets the usual 404.
    """
    request, _ = run_request(value)
    refuse_thread_alias(value)
    refuse_identity_keys(ctx, {"config": request.config, "context": request.context})
    read = read_once()  # the check and the audit read the same paused thread
    await refuse_bad_resume(value, may_see=lambda thread: owns_thread(ctx, thread), read=read)
    stamp_owner(ctx, value)
    await record_resume_decisions(approval_audit(), user_id=ctx.user.identity, value=value, read=read)
    return owner_filter(ctx)


@auth.on.threads.read
@auth.on.threads.update
@auth.on.threads.delete
@auth.on.threads.search
async def on_thread_access(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:
    """Get, state, history, runs, joins, streams, copies, deletes and searches: own threads only."""
    if ctx.action == "update":
        stamp_owner(ctx, value)
    return owner_filter(ctx)


@auth.on.crons.create
@auth.on.crons.update
async def on_cron_write(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:
    """A cron is its creator's, and runs as its creator, in an allowed image."""
    refuse_identity_keys(ctx, value, value.get("payload"), value.get("kwargs"))
    refuse_disallowed_image(value, value.get("payload"), value.get("kwargs"))
    stamp_owner(ctx, value)
    return owner_filter(ctx)


@auth.on.crons.read
@auth.on.crons.delete
@auth.on.crons.search
async def on_cron_access(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:  # noqa: ARG001 - the filter is the answer
    """Own crons only."""
    return owner_filter(ctx)


def stamp_visibility(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """Set who sees an assistant from who writes it: everyone for an admin's, its owner for anyone else's.

    Runs after `stamp_owner`, so the metadata is there unless an update leaves it
    unchanged (`None`), which keeps the stored visibility too.
    """
    metadata = value.get("metadata")
    if isinstance(metadata, dict):
        metadata[VISIBILITY_KEY] = SHARED_WITH_EVERYONE[VISIBILITY_KEY] if is_admin(ctx.user.identity) else "owner"


@auth.on.assistants.create
@auth.on.assistants.update
async def on_assistant_write(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:
    """An assistant a user creates is theirs alone, an admin's is everyone's; the built-in one cannot be changed.

    Its approval policy (context) and image are checked now, not at its first run: 422 if malformed or not allowed.
    """
    refuse_bad_policy(value.get("context"))
    refuse_disallowed_image(value)
    refuse_identity_keys(ctx, value)
    stamp_owner(ctx, value)
    stamp_visibility(ctx, value)
    return owner_filter(ctx)


@auth.on.assistants.delete
async def on_assistant_delete(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:  # noqa: ARG001
    """Own assistants only."""
    return owner_filter(ctx)


@auth.on.assistants.read
@auth.on.assistants.search
async def on_assistant_read(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:  # noqa: ARG001
    """Own assistants, the built-in `agent` assistant, and the ones admins made for everyone."""
    return {"$or": [owner_filter(ctx), SYSTEM_CREATOR, SHARED_WITH_EVERYONE]}


def user_namespace(user_id: str, namespace: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """`namespace` inside the user's own part of the store: it always starts with `user_id`.

    A namespace that already starts with the user's id is left as it is, so what a
    search returns can be passed straight back to get, put or delete.
    """
    parts = tuple(namespace or ())
    return parts if parts[:1] == (user_id,) else (user_id, *parts)


@auth.on.store()
async def on_store(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """Store items are per user: every namespace is moved under the caller's id."""
    value["namespace"] = user_namespace(ctx.user.identity, value.get("namespace"))


@auth.on
async def deny_everything_else(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> bool:  # noqa: ARG001
    """Fail closed: an action this module has no rule for (a new server feature) is refused."""
    logger.warning("Auth: refusing %s.%s, which has no ownership rule", ctx.resource, ctx.action)
    return False
