"""The FastAPI app `langgraph.json` mounts as `http.app`: the project's own HTTP routes.

Both servers merge it with their own API: `langgraph dev` takes any Starlette
app, Aegra only a FastAPI one (it includes its routers into this app, adds its
middleware around ours and runs our lifespan inside its own). Each feature adds
its routes and middleware here, in one place, so the served surface is readable
at a glance. Paths under `/threads/`, `/runs/`, `/assistants/`, `/store/`, `/ui`,
`/info`, `/health` and `/` belong to the servers and are never used here; so do
`/docs` and `/openapi.json`, which is why FastAPI's own are switched off.

- `/app/`: the web client (`server.ui_routes`), public page and assets;
- `/files/{thread_id}/...`: the client's workspace files (`server.file_routes`),
  authenticated and ownership-checked through the API itself; the owner's
  delete and rename there (`server.file_edits`) follow the agent's file rules;
- `/admin/...`: the admin view's routes (`server.admin_routes`), admins only;
- `/processes/{thread_id}/...`: the thread's background processes (`server.process_routes`),
  owner only like the file routes: list, output (JSON or SSE), stop;
- `/preview/...`: links to an app listening in a thread's sandbox (`server.preview_routes`),
  made for the owner, opened by the link alone, served with an opaque origin;
- middleware (`server.thread_streams`): a v2 thread stream opened before its
  thread exists waits for it and is then served to its owner only;
- `/thread-forks/{thread_id}`: fork a thread (checkpoints, workspace, snapshots) on
  both servers (`server.thread_forks`), for the caller, ownership-checked;
- `/thread-rewinds/{thread_id}`: restore the workspace of one of the thread's
  checkpoints now (`server.thread_rewinds`), for the web client's "rewind to here";
- `/thread-changes/{thread_id}`: the files changed between two checkpoints, with
  diffs (`server.thread_changes`), owner only, for the web client's turn summaries;
- middleware (`server.thread_copy`): a copied thread (`POST /threads/{id}/copy`) gets
  the source's workspace and snapshots, which its checkpoints restore;
- middleware (`server.thread_removal`) and lifespan (`server.lifecycle`): a deleted
  or pruned thread's sandboxes are removed, a reconciler removes orphans and expired
  containers, and a graceful stop stops this server's session containers;
- middleware around the server's own routes: `/docs`, `/openapi.json` and
  `/metrics` need a token when auth is on (`server.route_gate`), and a store search
  the server cannot read gets a 422 (`server.request_guards`);
- middleware (`server.metrics_route`, `server.server_errors`): `/metrics` adds the
  platform's `sandbox_` metrics to the server's own; every 5xx is counted;
- `server.inmem_fixes`: `langgraph dev`'s in-memory searches treat a thread without
  values as PostgreSQL does, instead of failing with a 500;
- middleware (`server.state_writes`): direct writes to a thread's graph state
  are refused, so nothing reaches the tools node past the approval step.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from config.server import ServerSettings
from sandbox.runs import log_context
from server import (
    admin_routes,
    file_edits,
    file_routes,
    inmem_fixes,
    preview_routes,
    process_routes,
    thread_changes,
    thread_forks,
    thread_rewinds,
    ui_routes,
)
from server.lifecycle import lifespan, thread_sandboxes
from server.metrics_route import MetricsRoute
from server.request_guards import StoreSearchGuard
from server.route_gate import ServerRouteGate
from server.server_errors import ServerErrors
from server.state_writes import StateWriteGuard
from server.thread_copy import ThreadCopy, process_snapshots
from server.thread_removal import ThreadRemoval
from server.thread_streams import ThreadStreamGate

inmem_fixes.apply()
log_context.install()

routes: list[BaseRoute] = [
    *ui_routes.routes,
    *file_routes.routes,
    *file_edits.routes,
    *process_routes.routes,
    *preview_routes.routes,
    *thread_forks.routes,
    *thread_rewinds.routes,
    *thread_changes.routes,
    *admin_routes.routes,
]

middleware = [
    # Outermost of ours: counts every 5xx, the server's routes' included.
    Middleware(ServerErrors),
    # Sees every request and its response, so a thread's sandboxes go only after its delete or prune succeeded.
    Middleware(ThreadRemoval, sandboxes=thread_sandboxes),
    # Sees a thread copy's answer, so the copy has the source's workspace and snapshots before the client hears back.
    Middleware(ThreadCopy, snapshots=process_snapshots),
    # Sees a v2 subscription before the server does, so one that arrives before its thread waits for it.
    Middleware(ThreadStreamGate, settings=ServerSettings.from_env()),
    # With auth on, the server's documentation and metrics answer only to a token (metrics: an admin's).
    Middleware(ServerRouteGate),
    # Inside the gate: the server's metrics with the sandbox_ ones appended (ours alone where it has none).
    Middleware(MetricsRoute),
    Middleware(StoreSearchGuard),
    # Only runs write a thread's graph state: a direct write could skip the approval step.
    Middleware(StateWriteGuard),
]

app = FastAPI(routes=routes, middleware=middleware, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
