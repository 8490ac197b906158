"""Docker sandboxes for deepagents: one workspace and container (or per-command containers) per thread."""

from config.sandbox import SandboxSettings
from sandbox.backend import DockerSandbox
from sandbox.deployment import SandboxDeployment
from sandbox.errors import DockerUnavailableError, SandboxError, SandboxImageError
from sandbox.workspace import ThreadRef

__all__ = [
    "DockerSandbox",
    "DockerUnavailableError",
    "SandboxDeployment",
    "SandboxError",
    "SandboxImageError",
    "SandboxSettings",
    "ThreadRef",
]
