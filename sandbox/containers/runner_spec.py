"""What a session container needs for its command runner: a socket folder, the script, a secret, two capabilities.

The runner itself is `sandbox/containers/inside/command_runner.py`; the host side
is `sandbox.containers.runner_socket`. This module only decides where things are,
so that `container_spec` can build a container with them without knowing how the
runner is driven.

Each container gets its own folder, `<workspaces>.runners/<token>/`, bind-mounted
at `RUNNER_MOUNT`: the runner's socket and lock file live there, on the host, where
the server connects. A root server makes it root's and 0700, so the sandbox user
cannot reach it; a server that is not root cannot, so there the runner's own
checks (peer outside the container, secret) are what keeps commands out.
The token is random, not the thread id: a container may be made before it has a
thread (a warm pool), and a container's folder must never be another's.

The secret is derived, not stored: HMAC of the container id under a key only the
server can read (`<workspaces>.runners/.key`, never mounted), so every server
process sharing the workspaces folder knows every runner's secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from config.sandbox import SandboxSettings

RUNNER_MOUNT = "/run/sandbox-runner"
"""The runner's socket folder inside the container (root's, 0700 under a root server)."""
RUNNER_SCRIPT_MOUNT = "/run/sandbox-runner.py"
"""The runner script inside the container, a read-only bind mount of `RUNNER_SCRIPT`."""
RUNNER_SCRIPT = Path(__file__).resolve().parent / "inside" / "command_runner.py"
RUNNER_CAPS = ("SETUID", "SETGID")
"""What the runner needs to start commands as the sandbox user, and nothing more. Commands run as
that non-root uid under `no-new-privileges`, so the capabilities never reach them."""
RUNNER_USER = "0:0"
"""The container's own processes (its keepalive and the runner) are root, a uid no command has,
so no command can signal, trace or read them; root here holds only `RUNNER_CAPS`."""
SOCKET_NAME = "runner.sock"
SECRET_ENV = "SANDBOX_RUNNER_SECRET"  # noqa: S105 - the variable's name, not a secret
_KEY_NAME = ".key"


@dataclass(frozen=True)
class RunnerFolder:
    """One container's runner folder: its token (a container label) and host path."""

    token: str
    path: Path


def runners_root(settings: SandboxSettings) -> Path:
    """Where runner folders live: next to `workspaces/`, outside everything a sandbox mounts but its own folder."""
    return settings.workspaces_dir.with_name(settings.workspaces_dir.name + ".runners")


def runner_folder(settings: SandboxSettings, token: str) -> RunnerFolder:
    """The folder of the container labelled with `token`."""
    return RunnerFolder(token=token, path=runners_root(settings) / token)


def new_runner_folder(settings: SandboxSettings) -> RunnerFolder:
    """Make a fresh folder for a container about to be created.

    Root's and 0700 under a root server. Otherwise the runner (root in the
    container, without CAP_DAC_OVERRIDE) may only create its socket in a folder
    whose "other" bits allow it: write and search, no listing.
    """
    root = runners_root(settings)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = runner_folder(settings, secrets.token_hex(12))
    folder.path.mkdir(mode=0o700)
    if os.geteuid() != 0:
        os.chmod(folder.path, 0o703)  # noqa: S103 - write and search for the runner, no listing
    return folder


def runner_binds(folder: RunnerFolder) -> dict[str, dict[str, str]]:
    """The two bind mounts: the socket folder (rw) and the script (ro)."""
    return {
        str(folder.path): {"bind": RUNNER_MOUNT, "mode": "rw"},
        str(RUNNER_SCRIPT): {"bind": RUNNER_SCRIPT_MOUNT, "mode": "ro"},
    }


def runner_argv(settings: SandboxSettings, workdir: str, *, replace: bool = False) -> list[str]:
    """The exec that starts a runner; `replace` kills an unresponsive one first."""
    argv = ["python3", "-I", "-S", RUNNER_SCRIPT_MOUNT, str(settings.uid), str(settings.gid), RUNNER_MOUNT, workdir]
    return [*argv, "--replace"] if replace else argv


def runner_secret(settings: SandboxSettings, container_id: str) -> str:
    """The secret of `container_id`'s runner: the same in every server process, unknown inside any container."""
    return hmac.new(_host_key(settings), container_id.encode(), hashlib.sha256).hexdigest()


def _host_key(settings: SandboxSettings) -> bytes:
    """The server's key for runner secrets, made once (atomically, so racing processes agree on one)."""
    root = runners_root(settings)
    path = root / _KEY_NAME
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(dir=root, prefix=".key-")
    try:
        os.write(fd, secrets.token_bytes(32))
        os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(staged, path)  # the first process's key wins
    finally:
        os.unlink(staged)
    return path.read_bytes()
