"""Preview link settings: how long a link to an app in a sandbox opens it, and what signs it."""

from __future__ import annotations

from dataclasses import dataclass

from config.auth import env_secret
from config.env import at_least, read_settings, setting


@dataclass(frozen=True)
class PreviewSettings:
    """Links that open an app listening inside a thread's sandbox (`POST /preview/{thread_id}/{port}`); build with `from_env()`."""

    link_ttl_seconds: int = setting("PREVIEW_LINK_TTL", at_least(10), 600)
    """Seconds a preview link works after it was made. A link is a credential on its own (a browser
    opening it sends no token), scoped to one thread and port; the web client asks for a fresh one each time."""
    secret: str | None = setting("PREVIEW_SECRET", env_secret, None)
    """Key that signs preview links (HMAC-SHA256; at least 32 characters, e.g. `openssl rand -hex 32`).
    Unset: a random key is made once and kept in `<SANDBOX_WORKSPACES_DIR>.previews/.link-key` (0600),
    which every server process sharing the workspaces folder reads; delete it to void every link."""

    @classmethod
    def from_env(cls) -> PreviewSettings:
        """Read `PREVIEW_*`; raise `SettingsError` naming a bad variable."""
        return read_settings(cls)
