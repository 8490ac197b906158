"""Benchmark-only graph: the served agent without live `execute` output.

The floor for section 6's cost of streaming: the same Docker sandbox, model,
prompt, approvals and middleware as `agent/graph.py`, minus `LiveOutputMiddleware`,
so no sink is set and commands run exactly as before live output existed.
Served by `benchmarks/langgraph.quiet.json`: `langgraph.json` with only this graph
swapped in, so both servers run the same HTTP app and auth around it.
"""

from __future__ import annotations

from agent.graph import build_agent

agent = build_agent(live_output=False)
