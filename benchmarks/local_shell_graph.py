"""Benchmark-only graph: the product's agent with deepagents' `LocalShellBackend` instead of Docker.

It is the floor for section 4: the same model, system prompt, human-in-the-loop
gates, middleware and context schema as `agent/graph.py`, so the only thing that
differs is where commands and files go (an unsandboxed shell and directory on the
host). Never serve this outside the benchmark: `LocalShellBackend` runs whatever
the model asks, as the server's user.

Served by `benchmarks/langgraph.local.json`; `BENCH_LOCAL_SHELL_ROOT` names the
directory the backend works in (shared by all threads, like `LocalShellBackend`
itself).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from deepagents.backends import LocalShellBackend

from agent.graph import AgentGraph, assemble_agent
from config.model import ModelSettings

ROOT_VARIABLE = "BENCH_LOCAL_SHELL_ROOT"


def build_local_shell_agent(root_dir: Path, model_settings: ModelSettings | None = None) -> AgentGraph:
    """The product's agent, with every tool backed by `LocalShellBackend(root_dir)`."""
    return assemble_agent(LocalShellBackend(root_dir=root_dir, virtual_mode=True, inherit_env=True), model_settings)


agent = build_local_shell_agent(Path(os.environ.get(ROOT_VARIABLE) or tempfile.mkdtemp(prefix="bench-local-shell-")))
