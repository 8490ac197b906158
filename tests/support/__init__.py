"""Shared helpers for the test suites (scripted LLM, `langgraph dev` launcher)."""
