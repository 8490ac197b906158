"""The Starlette app `langgraph.json` mounts as `http.app`: the project's own HTTP routes.

LangGraph's server merges these routes with its own API. Each feature adds its
routes and middleware here, in one place, so the served surface is readable at a
glance. Paths under `/threads/`, `/runs/`, `/assistants/`, `/store/`, `/ui` and `/`
belong to LangGraph and are never used here.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

routes: list[BaseRoute] = []

app = Starlette(routes=routes)
