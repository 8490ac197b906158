"""Docker sandboxes for deepagents: one workspace and container (or per-command containers) per thread.

The public entry: `DockerSandbox` (the deepagents backend, `sandbox.backend`), the
`SandboxDeployment` it runs on, and `sandbox_process()`, the one way to what the
sandbox keeps per server process. The work is in sub-packages named after their
jobs, each with a map of its modules in its `__init__.py`:

- `sandbox.containers`: Docker: connect, build a container, run a command, remove leftovers.
- `sandbox.files`: the agent's file tools, on the host, race-free.
- `sandbox.disks`: workspace, artifacts and memory folders, and their quota disks.
- `sandbox.coordination`: what server processes agree on through lock files (`docs/locks.md`).
- `sandbox.runs`: what one run sees: its thread and user, errors, audit log, live output.
- `sandbox.snapshots`: each thread's workspace snapshots, which checkpoints restore.
- `sandbox.processes`: background processes a thread leaves running (dev servers, watchers).
- `sandbox.mcp`: a thread's MCP servers: run in its sandbox (stdio) or reached at their URL, one session each.
- `sandbox.previews`: the way into an app listening in a sandbox that has no network (a relay to a unix socket).
"""

from config.sandbox import SandboxSettings
from sandbox.backend import DockerSandbox
from sandbox.containers.deployment import SandboxDeployment
from sandbox.coordination.process_state import SandboxProcess, sandbox_process
from sandbox.disks.workspace import ThreadRef
from sandbox.runs.errors import DockerUnavailableError, SandboxError, SandboxImageError

__all__ = (
    "DockerSandbox",
    "DockerUnavailableError",
    "SandboxDeployment",
    "SandboxError",
    "SandboxImageError",
    "SandboxProcess",
    "SandboxSettings",
    "ThreadRef",
    "sandbox_process",
)
