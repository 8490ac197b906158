"""Assembles the deepagents coding agent that `langgraph.json` exports as graph `agent`."""
