"""Preview links: short-lived, signed capabilities for one (user, thread, port).

A browser that opens a preview sends no bearer token, so the link itself is the
credential: `<payload>.<signature>`, where the payload (base64url JSON) names
the user, the thread, the port and the expiry, and the signature is
HMAC-SHA256 over it with the server's key. Changing any field (another thread,
another port, a later expiry) breaks the signature. The key is `PREVIEW_SECRET`,
or a random one kept beside the workspaces (`config.previews`), so every server
process sharing that folder accepts the links the others made.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from server.thread_access import ThreadAccessError

MAX_LINK_CHARS = 1024
"""Longer tokens are refused before decoding: a real one is a few hundred characters."""
KEY_FILE = ".link-key"


PreviewLinkError = ThreadAccessError
"""A link that opens nothing, with its HTTP status (401 expired, 403 forged or malformed, 413 a body too large)."""


@dataclass(frozen=True)
class PreviewGrant:
    """What a valid link lets its holder open."""

    user_id: str
    thread_id: str
    port: int
    expires: int
    """Seconds since the epoch."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def sign(key: bytes, grant: PreviewGrant) -> str:
    """The link token of `grant`."""
    payload = _b64(json.dumps([1, grant.user_id, grant.thread_id, grant.port, grant.expires], separators=(",", ":")).encode())
    return f"{payload}.{_signature(key, payload)}"


def verify(key: bytes, token: str, *, now: float | None = None) -> PreviewGrant:
    """The grant a token carries; `PreviewLinkError` when it is forged, malformed or expired."""
    forged = PreviewLinkError(403, "this preview link is not valid: ask for a new one")
    if len(token) > MAX_LINK_CHARS or not token.isascii() or token.count(".") != 1:
        raise forged
    payload, signature = token.split(".")
    if not hmac.compare_digest(_signature(key, payload).encode(), signature.encode()):
        raise forged
    try:
        version, user_id, thread_id, port, expires = json.loads(_unb64(payload))
    except (ValueError, TypeError, binascii.Error):
        raise forged from None
    if version != 1 or not all(isinstance(v, str) for v in (user_id, thread_id)) or not all(type(v) is int for v in (port, expires)):
        raise forged
    if (time.time() if now is None else now) >= expires:
        raise PreviewLinkError(401, "this preview link has expired: open the preview again from the web client")
    return PreviewGrant(user_id=user_id, thread_id=thread_id, port=port, expires=expires)


@cache
def stored_key(folder: Path) -> bytes:
    """The key kept in `folder/.link-key`, made (random, 0600) by the first process that needs it."""
    folder.mkdir(mode=0o711, parents=True, exist_ok=True)
    path = folder / KEY_FILE
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    for _ in range(100):  # another process may have created it and not written it yet
        text = path.read_text(encoding="ascii").strip()
        if text:
            return text.encode("ascii")
        time.sleep(0.01)
    msg = f"{path} is empty: delete it and a new key is made"
    raise RuntimeError(msg)
