"""Background processes owned by a thread: dev servers, watchers and test runs that outlive one tool call.

- `records`: what the host keeps per process (a JSON record and a bounded output file,
  beside the workspaces, never inside one), so a restarted server lists them truthfully.
- `scripts`: the in-container `sh` scripts that start, probe, feed and stop a process.
- `manager`: `ProcessManager`, owned by the deployment: start within the caps, sync output,
  stop on request, on an idle TTL and when the thread goes.

A process is identified by (thread id, process id) everywhere: tools, routes, records.
"""
