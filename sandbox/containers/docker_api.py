"""One place that talks to the Docker Engine's connection and images.

docker-py connects (and negotiates the API version) when the client is built, so
building it is where "Docker is not running" shows up; we turn that into an error
the agent can read instead of a traceback.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from sandbox.runs.errors import DockerUnavailableError, RemoteDockerError, SandboxImageError

logger = logging.getLogger(__name__)

OFFLINE_IMAGE_SCRIPT = "sandbox/image/build-offline-image.sh"

_CLIENT_SLACK_SECONDS = 60


_LOCAL_SCHEMES = frozenset({"unix", "npipe", "fd"})
_LOCAL_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


def engine_is_local(docker_host: str | None) -> bool:
    """True when `DOCKER_HOST` (None or "" = the default socket) names an engine on this machine.

    A local socket or a TCP address on a loopback interface is local; any other
    host name or address, and every `ssh://` engine, is taken as another machine.
    """
    if not docker_host or not docker_host.strip():
        return True
    parts = urlsplit(docker_host.strip())
    scheme = parts.scheme.lower()
    if scheme in _LOCAL_SCHEMES:
        return True
    if scheme not in {"tcp", "http", "https"}:
        return False  # ssh:// and anything we do not know
    host = (parts.hostname or "").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_local_engine(docker_host: str | None) -> None:
    """Refuse an engine on another machine: its bind mounts would not be our folders.

    Sandboxes bind-mount `SANDBOX_WORKSPACES_DIR` and `SANDBOX_SHARED_DIR` by path,
    and the file tools read and write those same folders on this machine. A remote
    engine would mount whatever sits at those paths on *its* host, so the shell
    and the file tools would silently see different files.
    """
    if engine_is_local(docker_host):
        return
    msg = (
        f"DOCKER_HOST={docker_host} points at a Docker Engine on another machine. Sandboxes bind-mount "
        "SANDBOX_WORKSPACES_DIR and SANDBOX_SHARED_DIR by path, and the file tools use those folders on this "
        "machine, so the engine must run on this host (unix socket or a loopback tcp:// address) and see the "
        "workspaces directory at the same path. Unset DOCKER_HOST or point it at a local engine."
    )
    raise RemoteDockerError(msg)


def connect(max_timeout_seconds: int) -> docker.APIClient:
    """A low-level client whose socket timeout outlasts the longest allowed command."""
    require_local_engine(os.environ.get("DOCKER_HOST"))
    try:
        kwargs = docker.utils.kwargs_from_env()
        return docker.APIClient(version="auto", timeout=max_timeout_seconds + _CLIENT_SLACK_SECONDS, **kwargs)
    except DockerException as exc:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        msg = (
            f"Docker is not reachable at {where}, so no sandbox can run: {exc}. "
            "Start the Docker Engine (dockerd) on this machine, or point DOCKER_HOST at its socket."
        )
        raise DockerUnavailableError(msg) from exc


def container_runs(api: docker.APIClient, container_id: str) -> bool:
    """Whether Docker says the container runs; False once it is gone. Other Docker errors are the caller's."""
    try:
        return bool(api.inspect_container(container_id)["State"]["Running"])
    except NotFound:
        return False


def engine_id(api: docker.APIClient) -> str:
    """The Docker engine's own id: stable across its restarts, different on every host's engine."""
    return str(api.info()["ID"])


class ImageGate:
    """The one door between a run's image and the Docker engine.

    Only `configured` (the server's `SANDBOX_IMAGE`) and the `allowed` images an
    admin listed may run; anything else is refused before Docker hears of it. Only
    `configured` is ever pulled (at most once per process): a run naming an image
    must never make the engine contact a registry of the client's choosing.
    """

    def __init__(self, configured: str, allowed: Iterable[str] = ()) -> None:
        self.configured = configured
        self.allowed = frozenset(allowed) | {configured}
        self._ready: set[str] = set()
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def ensure(self, api: docker.APIClient, image: str) -> None:
        """Return when `image` may run and is local; raise `SandboxImageError` with the way out otherwise."""
        if image in self._ready:
            return
        if image not in self.allowed:
            msg = (
                f"Sandbox image '{image}' is not allowed: runs may use SANDBOX_IMAGE ({self.configured}) "
                "or an image an administrator lists in SANDBOX_ALLOWED_IMAGES."
            )
            raise SandboxImageError(msg)
        with self._lock:
            if image in self._ready:
                return
            try:
                api.inspect_image(image)
            except ImageNotFound:
                if image != self.configured:
                    msg = (
                        f"Sandbox image '{image}' is allowed (SANDBOX_ALLOWED_IMAGES) but not present on this host, "
                        "and images other than SANDBOX_IMAGE are never pulled on a run's request: "
                        f"an administrator can `docker pull {image}` (or build it) on the server's host."
                    )
                    raise SandboxImageError(msg) from None
                # A failed pull is not retried (it would stall every call), but a
                # later `docker load` or offline build is picked up by the inspect.
                if image in self._failed:
                    raise SandboxImageError(self._failed[image]) from None
                self._pull(api, image)
            self._ready.add(image)
            self._failed.pop(image, None)

    def forget(self, image: str) -> None:
        """The image vanished after we saw it (e.g. `docker rmi`); check again next time."""
        with self._lock:
            self._ready.discard(image)

    def _pull(self, api: docker.APIClient, image: str) -> None:
        logger.warning("Sandbox image %s is not present locally; pulling it once", image)
        repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", maxsplit=1)[-1] else (image, "", "latest")
        try:
            api.pull(repository, tag=tag or "latest")
            api.inspect_image(image)
        except (APIError, DockerException) as exc:
            detail = str(exc).splitlines()[0][:300]
            msg = (
                f"Sandbox image '{image}' is not available locally and could not be pulled ({detail}). "
                f"Set SANDBOX_IMAGE to a local image, or build one without a registry: "
                f"`bash {OFFLINE_IMAGE_SCRIPT} {image}`."
            )
            self._failed[image] = msg
            raise SandboxImageError(msg) from exc
        logger.warning("Pulled sandbox image %s", image)
