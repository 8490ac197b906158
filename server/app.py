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
- middleware (`server.thread_streams`): a v2 thread stream opened before its
  thread exists waits for it and is then served to its owner only;
- middleware (`server.thread_removal`) and lifespan (`server.lifecycle`): a deleted
  or pruned thread's sandboxes are removed, a reconciler removes orphans and expired
  containers, and a graceful stop stops this server's session containers;
- middleware around the server's own routes: `/docs`, `/openapi.json` and
  `/metrics` need a token when auth is on (`server.route_gate`), and a store search
  the server cannot read gets a 422 (`server.request_guards`);
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
from server import admin_routes, file_edits, file_routes, inmem_fixes, ui_routes
from server.lifecycle import lifespan, thread_sandboxes
from server.request_guards import StoreSearchGuard
from server.route_gate import ServerRouteGate
from server.state_writes import StateWriteGuard
from server.thread_removal import ThreadRemoval
from server.thread_streams import ThreadStreamGate

inmem_fixes.apply()
log_context.install()

routes: list[BaseRoute] = [*ui_routes.routes, *file_routes.routes, *file_edits.routes, *admin_routes.routes]

middleware = [
    # Sees every request and its response, so a thread's sandboxes go only after its delete or prune succeeded.
    Middleware(ThreadRemoval, sandboxes=thread_sandboxes),
    # Sees a v2 subscription before the server does, so one that arrives before its thread waits for it.
    Middleware(ThreadStreamGate, settings=ServerSettings.from_env()),
    # With auth on, the server's documentation and metrics answer only to a token (metrics: an admin's).
    Middleware(ServerRouteGate),
    Middleware(StoreSearchGuard),
    # Only runs write a thread's graph state: a direct write could skip the approval step.
    Middleware(StateWriteGuard),
]

app = FastAPI(routes=routes, middleware=middleware, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
