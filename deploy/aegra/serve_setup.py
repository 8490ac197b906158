"""The set-up steps the deployment shares with scripts/setup.sh, and small helpers around them.

Docker, disk-quota tools, the sandbox image and Debian packages are set up by the
same bash functions as the one-command start and CI, so each is written once; the
entry point runs them as children (so they end with it too) after it has checked
its own arguments, so a mistyped option is refused before any slow step.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from serve_children import user_prefix
from serve_log import Refusal

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = PROJECT_ROOT / "scripts" / "setup.sh"


def setup_functions(script: str) -> str:
    """Run `script` (calls of setup.sh's functions) in bash; what it prints on stdout.

    The functions' progress lines go to stderr, prefixed like this program's own.
    """
    command = [*user_prefix(None), "bash", "-c", f'source "$0" && {{ {script}; }}', str(SETUP_SCRIPT)]
    env = {**os.environ, "SETUP_LOG_NAME": "serve"}
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False, process_group=0)
    if done.returncode != 0:
        msg = "a set-up step failed (see above)"
        raise Refusal(msg)
    return done.stdout


def ensure_platform() -> str:
    """Docker running, the disk-quota tools, the sandbox image chosen; that image's name."""
    script = '{ ensure_docker && ensure_disk_quota_tools && choose_sandbox_image; } >&2 && printf %s "$SANDBOX_IMAGE"'
    return setup_functions(script).strip()


def apt_install(*packages: str) -> None:
    """Debian `packages` installed (root; otherwise a refusal that says what to run)."""
    setup_functions(f"apt_install {' '.join(packages)} >&2")


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
