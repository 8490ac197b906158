"""The Starlette app `langgraph.json` mounts as `http.app`: the project's own HTTP routes.

LangGraph's server merges these routes with its own API. Each feature adds its
routes and middleware here, in one place, so the served surface is readable at a
glance. Paths under `/threads/`, `/runs/`, `/assistants/`, `/store/`, `/ui` and `/`
belong to LangGraph and are never used here.

- `/app/`: the web client (`server.ui_routes`), public page and assets;
- `/files/{thread_id}/...`: the client's workspace files (`server.file_routes`),
  authenticated and ownership-checked through the API itself;
- middleware and lifespan (`server.lifecycle`): a deleted thread's sandboxes are
  removed, a reconciler removes orphans and expired containers, and a graceful
  stop stops this server's session containers.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from server import file_routes, ui_routes
from server.lifecycle import ThreadDeleteCleanup, lifespan, thread_sandboxes

routes: list[BaseRoute] = [*ui_routes.routes, *file_routes.routes]

middleware = [
    # Sees every request and its response, so a thread's sandboxes go only after its delete succeeded.
    Middleware(ThreadDeleteCleanup, sandboxes=thread_sandboxes),
]

app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
