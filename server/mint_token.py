"""Admin command: print a bearer token for one user, signed with `AUTH_JWT_SECRET`.

    uv run python -m server.mint_token alice --hours 8

The token's `sub` is the user id (and `iss` / `aud` are set when `AUTH_JWT_ISSUER`
/ `AUTH_JWT_AUDIENCE` are); clients send it as `Authorization: Bearer <token>`.
Anyone holding the secret can mint tokens for any user, so keep `.env` private.
"""

from __future__ import annotations

import argparse
import sys

from config.auth import AuthSettings
from config.env import SettingsError
from server.tokens import TokenError, mint_token


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, mint, print the token on stdout; errors go to stderr with exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m server.mint_token", description=__doc__.split("\n\n")[0])
    parser.add_argument("user_id", help="the user the token speaks for (its 'sub' claim)")
    parser.add_argument("--hours", type=float, default=8.0, help="how long the token is valid (default 8)")
    args = parser.parse_args(argv)
    try:
        token = mint_token(AuthSettings.from_env(), args.user_id, hours=args.hours)
    except (SettingsError, TokenError) as exc:
        print(f"mint_token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
