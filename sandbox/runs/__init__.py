"""Runs: what one agent run sees of the sandbox: who it is for, what it reports, what is recorded.

- `run_context`: the thread and user of the current LangGraph run.
- `errors`: the errors every part reports to the agent instead of crashing a run.
- `audit`: the audit log (commands, approval decisions, artifacts, file changes, admin actions), rotated by size.
- `audit_read`: reading the audit log back across its rotated files.
- `log_context`: user, thread, run and command id on every log record.
- `live_output`: where a running command's output goes while it is produced.
- `capture_offload`: large `execute` output saved to a file with a preview, decided on the host.
"""
