"""Errors the sandbox reports to the agent instead of crashing a run."""

from __future__ import annotations


class SandboxError(RuntimeError):
    """A sandbox call could not run; `str(error)` is written for the model and the user."""


class DockerUnavailableError(SandboxError):
    """The Docker Engine could not be reached."""


class RemoteDockerError(SandboxError):
    """`DOCKER_HOST` names an engine on another machine, which this deployment cannot use."""


class SandboxImageError(SandboxError):
    """The configured image is missing and could not be pulled."""


class InvalidThreadIdError(SandboxError):
    """A thread id that cannot safely name a workspace directory."""


class WorkspaceDiskError(SandboxError):
    """A thread's workspace disk could not be created or mounted (for example past `SANDBOX_DISK_TOTAL`)."""


class UserCapError(SandboxError):
    """A user is at one of their per-user caps; other users are unaffected."""


class RunnerLostError(SandboxError):
    """A session container's command runner stopped under a running command, so its exit status is unknown."""
