"""Coordination: what server processes (and users within one) must agree on, kept in the kernel.

The protocol these locks follow (which lock guards what, their order, who may
unlink a lock file, what a forked child holds) is written down in `docs/locks.md`.

- `process_state`: `sandbox_process()`, the one owner of what the sandbox keeps per process.
- `locks`: the lock files under `<workspaces>.locks/` and how they are taken.
- `process_lease`: each server process's lease, and whether a container's owner still lives.
- `thread_use`: whether a thread's session container is in use, by any process.
- `user_caps`: how many commands one user may run at once, across processes.
- `fair_pool`: the thread pool sandbox work runs in, shared fairly between users.
- `atomic_files`: replacing a small shared file whole (owner records, budget sums, snapshot store files).
"""
