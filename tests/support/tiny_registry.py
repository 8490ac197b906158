"""A minimal read-only Docker Registry (v2 API) on 127.0.0.1 serving one tiny image.

Docker pulls from loopback registries without TLS, so tests can exercise a real
`docker pull` with no network: the engine fetches the manifest, config and one
layer from here and verifies every digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer() -> tuple[bytes, bytes]:
    """An uncompressed tar with one file, and its gzip form."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        payload = b"pulled from the tiny registry\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    raw = buffer.getvalue()
    return raw, gzip.compress(raw, mtime=0)


class TinyRegistry:
    """Serves `<host:port>/tiny:1`; counts manifest fetches ("pulled once") and all requests ("never asked")."""

    def __init__(self) -> None:
        raw, compressed = _layer()
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["/hello.txt"]},
                "rootfs": {"type": "layers", "diff_ids": [_digest(raw)]},
            }
        ).encode()
        layer = {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(compressed), "digest": _digest(compressed)}
        config_ref = {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config), "digest": _digest(config)}
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": config_ref, "layers": [layer]}).encode()
        self.blobs = {_digest(config): config, _digest(compressed): compressed}
        self.manifest = manifest
        self.manifest_requests = 0
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def image(self) -> str:
        """The image reference Docker should pull."""
        return f"127.0.0.1:{self._server.server_address[1]}/tiny:1"

    def __enter__(self) -> TinyRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _send(self, body: bytes, content_type: str, digest: str | None = None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                if digest:
                    self.send_header("Docker-Content-Digest", digest)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                registry.requests += 1
                if self.path == "/v2/":
                    self._send(b"{}", "application/json")
                elif self.path == "/v2/tiny/manifests/1" or self.path == f"/v2/tiny/manifests/{_digest(registry.manifest)}":
                    registry.manifest_requests += self.command == "GET"
                    self._send(registry.manifest, MANIFEST_TYPE, _digest(registry.manifest))
                elif self.path.startswith("/v2/tiny/blobs/") and self.path.rsplit("/", 1)[1] in registry.blobs:
                    digest = self.path.rsplit("/", 1)[1]
                    self._send(registry.blobs[digest], "application/octet-stream", digest)
                else:
                    self.send_error(404)

        return Handler
