"""Benchmarks of the Docker sandbox against raw Docker and deepagents' own backends.

Run `uv run python -m benchmarks.run` (add `--quick` for a short pass).
"""
