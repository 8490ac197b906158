"""Docker sandboxes for deepagents: one workspace and container (or per-command containers) per thread."""

from config.sandbox import SandboxSettings
from sandbox.backend import DockerSandbox
from sandbox.containers.deployment import SandboxDeployment
from sandbox.disks.workspace import ThreadRef
from sandbox.runs.errors import DockerUnavailableError, SandboxError, SandboxImageError

__all__ = [
    "DockerSandbox",
    "DockerUnavailableError",
    "SandboxDeployment",
    "SandboxError",
    "SandboxImageError",
    "SandboxSettings",
    "ThreadRef",
]
