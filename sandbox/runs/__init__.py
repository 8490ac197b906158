"""Runs: what one agent run sees of the sandbox: who it is for, what it reports, what is recorded.

- `run_context`: the thread and user of the current LangGraph run.
- `errors`: the errors every part reports to the agent instead of crashing a run.
- `audit`: the audit log (commands, approval decisions, artifacts).
- `live_output`: where a running command's output goes while it is produced.
"""
