"""One place that talks to the Docker Engine's connection and images.

docker-py connects (and negotiates the API version) when the client is built, so
building it is where "Docker is not running" shows up; we turn that into an error
the agent can read instead of a traceback.
"""

from __future__ import annotations

import logging
import os
import threading

import docker
from docker.errors import APIError, DockerException, ImageNotFound

from sandbox.errors import DockerUnavailableError, SandboxImageError

logger = logging.getLogger(__name__)

OFFLINE_IMAGE_SCRIPT = "sandbox/image/build-offline-image.sh"

_CLIENT_SLACK_SECONDS = 60


def connect(max_timeout_seconds: int) -> docker.APIClient:
    """A low-level client whose socket timeout outlasts the longest allowed command."""
    try:
        kwargs = docker.utils.kwargs_from_env()
        return docker.APIClient(version="auto", timeout=max_timeout_seconds + _CLIENT_SLACK_SECONDS, **kwargs)
    except DockerException as exc:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        msg = f"Docker is not reachable at {where}, so no sandbox can run: {exc}. Start the Docker Engine (dockerd) or set DOCKER_HOST."
        raise DockerUnavailableError(msg) from exc


class ImageGate:
    """Makes sure an image is present, pulling each missing image at most once per process."""

    def __init__(self) -> None:
        self._ready: set[str] = set()
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def ensure(self, api: docker.APIClient, image: str) -> None:
        """Return when `image` is local; raise `SandboxImageError` with the way out otherwise."""
        if image in self._ready:
            return
        with self._lock:
            if image in self._ready:
                return
            try:
                api.inspect_image(image)
            except ImageNotFound:
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
