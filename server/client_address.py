"""The start command's last line: where the web client is, and with auth on how to get a token.

    uv run python -m server.client_address --server-pid PID -- [langgraph dev options]

`langgraph dev`'s banner names Studio and the API docs, which need the internet,
and nothing in it names `/app/`. `scripts/start.sh` starts this next to the
server; it waits until the page answers (or the server's process is gone), then
prints one line. It reads the same `--host` / `--port` the server was given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request

from config.auth import AuthSettings
from config.env import SettingsError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2024
_ANY_ADDRESS = {"0.0.0.0", "::", "[::]", ""}  # noqa: S104  (names the wildcard, binds nothing)


def client_url(host: str, port: int) -> str:
    """The address to open on this machine: a wildcard host is reached through loopback."""
    shown = DEFAULT_HOST if host in _ANY_ADDRESS else (f"[{host}]" if ":" in host and not host.startswith("[") else host)
    return f"http://{shown}:{port}/app/"


def sign_in_hint(settings: AuthSettings) -> str:
    """How a user gets a token, or that nobody signs in."""
    if settings.jwt_secret:
        return "sign in with a token from: uv run python -m server.mint_token <user-id>"
    if settings.jwks_file or settings.jwks_url:
        return "sign in with a token from your single sign-on provider"
    return "single-user mode, no sign-in"


def announcement(url: str, settings: AuthSettings | None) -> str:
    """The one line; unreadable auth settings are the server's to report, so the line stays short."""
    hint = sign_in_hint(settings) if settings is not None else "see the log above for the sign-in settings"
    return f"Web client: {url} ({hint})"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (our own http:// address)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    """Wait for the page, then print the line; exit quietly when the server stopped first."""
    parser = argparse.ArgumentParser(prog="python -m server.client_address", description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-pid", type=int, required=True, help="the server's process: stop waiting when it is gone")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the page (default 600)")
    ours, rest = parser.parse_known_args(argv)
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("--host", default=DEFAULT_HOST)
    server.add_argument("--port", type=int, default=DEFAULT_PORT)
    options, _ = server.parse_known_args([arg for arg in rest if arg != "--"])
    url = client_url(options.host, options.port)
    poll = f"http://{DEFAULT_HOST}:{options.port}/app/" if options.host in _ANY_ADDRESS else url
    deadline = time.monotonic() + ours.timeout
    while not _answers(poll):
        if not _alive(ours.server_pid) or time.monotonic() > deadline:
            return 1
        time.sleep(0.5)
    time.sleep(1.0)  # after the server's own start-up lines
    try:
        settings: AuthSettings | None = AuthSettings.from_env()
    except SettingsError:
        settings = None
    print(announcement(url, settings), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
