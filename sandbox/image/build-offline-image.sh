#!/usr/bin/env bash
# Build the sandbox image from Debian packages alone: no container registry needed.
#
#   sudo bash sandbox/image/build-offline-image.sh [IMAGE]      (default: deepagents-sandbox:offline)
#
# debootstrap fetches .deb packages from a Debian mirror (set SANDBOX_DEBIAN_MIRROR to an
# intranet mirror or apt proxy), builds a minimal root filesystem, and `docker import`
# turns it into an image. Then point the server at it: SANDBOX_IMAGE=IMAGE.
set -euo pipefail

image="${1:-deepagents-sandbox:offline}"
suite="${SANDBOX_DEBIAN_SUITE:-bookworm}"
mirror="${SANDBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What an agent expects to find: a shell, python/python3, coreutils (timeout, head),
# grep, find, sed, ps.
packages="python3,python-is-python3,bash,coreutils,grep,findutils,sed,procps"

die() { echo "build-offline-image: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap needs it)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
command -v docker >/dev/null || die "the docker CLI is missing: apt-get install docker.io"
docker info >/dev/null 2>&1 || die "the Docker Engine is not reachable: start dockerd"

rootfs="$(mktemp -d /tmp/sandbox-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

echo "build-offline-image: debootstrap $suite from $mirror into $rootfs" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >&2
# Package caches and lists are dead weight without a network.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
mkdir -p "$rootfs/workspace" "$rootfs/shared"

echo "build-offline-image: importing as $image" >&2
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'WORKDIR /workspace' \
  --change 'CMD ["bash"]' \
  - "$image" >/dev/null
docker run --rm --network none "$image" python3 -c 'import sys; print("build-offline-image: ok, Python", sys.version.split()[0])'
