"""What the deployment's entry point tells its operator, in the same form as scripts/setup.sh.

Lines go to stderr as `[serve <seconds>s] ...`, the seconds counted from when
serve.sh started (it passes SERVE_STARTED_AT), so the bash set-up steps and the
Python entry point read as one log. A refusal is `[serve] error: ...` and exit 1.
"""

from __future__ import annotations

import os
import sys
import time

STARTED_AT = float(os.environ.get("SERVE_STARTED_AT") or time.time())
"""When serve.sh began (epoch seconds); this process's own start when run on its own."""


class Refusal(Exception):
    """A reason the deployment cannot go on; the entry point stops what it started and exits 1."""


def log(text: str) -> None:
    """One progress line for the operator."""
    print(f"[serve {int(time.time() - STARTED_AT)}s] {text}", file=sys.stderr, flush=True)


def error(text: str) -> None:
    """The line that says why the entry point gives up."""
    print(f"[serve] error: {text}", file=sys.stderr, flush=True)
