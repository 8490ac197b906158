"""The Starlette app `langgraph.json` mounts as `http.app`: the project's own HTTP routes.

LangGraph's server merges these routes with its own API. Each feature adds its
routes and middleware here, in one place, so the served surface is readable at a
glance. Paths under `/threads/`, `/runs/`, `/assistants/`, `/store/`, `/ui` and `/`
belong to LangGraph and are never used here.

- `/app/`: the web client (`server.ui_routes`), public page and assets;
- `/files/{thread_id}/...`: the client's workspace files (`server.file_routes`),
  authenticated and ownership-checked through the API itself.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from server import file_routes, ui_routes

routes: list[BaseRoute] = [*ui_routes.routes, *file_routes.routes]

app = Starlette(routes=routes)
