"""Preview links: what a signature covers, expiry, the stored key; the relay socket is opened only as a socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from config.env import SettingsError
from config.previews import PreviewSettings
from sandbox.previews.host_side import PreviewUnavailableError, open_socket
from server.preview_links import PreviewGrant, PreviewLinkError, sign, stored_key, verify

KEY = b"k" * 32
GRANT = PreviewGrant(user_id="alice", thread_id="t-1", port=8000, expires=4_000_000_000)
"""Expires in 2096: the suite may run long before it reaches these tests."""


def test_a_signed_link_carries_its_grant() -> None:
    assert verify(KEY, sign(KEY, GRANT)) == GRANT


@pytest.mark.parametrize(
    "changed",
    [
        PreviewGrant("bob", "t-1", 8000, GRANT.expires),
        PreviewGrant("alice", "t-2", 8000, GRANT.expires),
        PreviewGrant("alice", "t-1", 8001, GRANT.expires),
        PreviewGrant("alice", "t-1", 8000, GRANT.expires + 3600),
    ],
)
def test_another_payload_under_the_same_signature_is_refused(changed: PreviewGrant) -> None:
    signature = sign(KEY, GRANT).split(".")[1]
    forged = sign(KEY, changed).split(".")[0] + "." + signature
    with pytest.raises(PreviewLinkError) as refused:
        verify(KEY, forged)
    assert refused.value.status == 403


@pytest.mark.parametrize("token", ["", ".", "a.b.c", "x" * 2000, "é.é", sign(b"other" * 8, GRANT)])
def test_malformed_or_foreign_links_are_refused(token: str) -> None:
    with pytest.raises(PreviewLinkError) as refused:
        verify(KEY, token)
    assert refused.value.status == 403


def test_an_expired_link_is_refused_with_401() -> None:
    with pytest.raises(PreviewLinkError) as refused:
        verify(KEY, sign(KEY, GRANT), now=GRANT.expires)
    assert refused.value.status == 401


def test_the_stored_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = stored_key(tmp_path / "previews")
    assert len(first) == 64
    assert (tmp_path / "previews" / ".link-key").stat().st_mode & 0o777 == 0o600
    stored_key.cache_clear()
    assert stored_key(tmp_path / "previews") == first


def test_preview_settings_refuse_short_secrets_and_ttls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREVIEW_SECRET", "short")
    with pytest.raises(SettingsError, match="PREVIEW_SECRET"):
        PreviewSettings.from_env()
    monkeypatch.setenv("PREVIEW_SECRET", "s" * 32)
    monkeypatch.setenv("PREVIEW_LINK_TTL", "5")
    with pytest.raises(SettingsError, match="PREVIEW_LINK_TTL"):
        PreviewSettings.from_env()


def test_the_relay_name_is_opened_as_a_socket_never_through_a_link(tmp_path: Path) -> None:
    target = socket.socket(socket.AF_UNIX)
    target.bind(str(tmp_path / "elsewhere.sock"))
    folder = tmp_path / "thread"
    folder.mkdir()
    assert open_socket(folder, 8000) is None
    (folder / "8000.sock").symlink_to(tmp_path / "elsewhere.sock")
    with pytest.raises(PreviewUnavailableError, match="not a relay socket"):
        open_socket(folder, 8000)
    (folder / "8001.sock").write_text("a file")
    with pytest.raises(PreviewUnavailableError, match="not a relay socket"):
        open_socket(folder, 8001)
    relay = socket.socket(socket.AF_UNIX)
    relay.bind(str(folder / "8002.sock"))
    fd = open_socket(folder, 8002)
    assert fd is not None
    os.close(fd)
    target.close()
    relay.close()
