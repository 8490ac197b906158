"""Metrics: the platform's Prometheus metrics (`sandbox_` names), counted where the work happens.

- `events`: the registry and its counters and histograms (commands, approvals, refusals, server errors),
  bumped by the objects that do the work.
- `scrape`: what a scrape reads: every process's counts (multiprocess mode), and the containers and
  disk use as they are now.
"""
