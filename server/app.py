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
  authenticated and ownership-checked through the API itself;
- middleware (`server.thread_cleanup`) and lifespan (`server.lifecycle`): a deleted
  or pruned thread's sandboxes are removed, a reconciler removes orphans and expired containers, and a graceful
  stop stops this server's session containers.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from server import file_routes, ui_routes
from server.lifecycle import lifespan, thread_sandboxes
from server.thread_cleanup import ThreadCleanup

routes: list[BaseRoute] = [*ui_routes.routes, *file_routes.routes]

middleware = [
    # Sees every request and its response, so a thread's sandboxes go only after its delete or prune succeeded.
    Middleware(ThreadCleanup, sandboxes=thread_sandboxes),
]

app = FastAPI(routes=routes, middleware=middleware, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
