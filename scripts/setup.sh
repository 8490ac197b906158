# shellcheck shell=bash
# Set-up steps shared by the one-command start (scripts/start.sh) and CI (.ci/run).
#
#   source scripts/setup.sh      # then call the ensure_* functions you need
#
# Each step checks first and only acts when something is missing, so a second run is
# quick and says what it found. Steps that must install or start something as root say
# what to run instead when the caller is not root. Messages go to stderr, prefixed with
# SETUP_LOG_NAME ("setup" unless the caller sets it) and the seconds since sourcing.
# Sourcing changes into the project root (the folder holding langgraph.json).

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$PROJECT_ROOT" || exit 1

DEFAULT_SANDBOX_IMAGE="python:3.13-slim"
# The sandbox image SandboxSettings falls back to when SANDBOX_IMAGE is empty.
OFFLINE_SANDBOX_IMAGE="deepagents-sandbox:offline"
# What choose_sandbox_image builds when no registry answers. Every image named
# deepagents-sandbox:<tag> is this project's offline build, made when missing.
OFFLINE_IMAGE_SCRIPT="sandbox/image/build-offline-image.sh"
REGISTRY_PROBE_SECONDS=10
# How long a pull may wait to hear back from a registry before it counts as unreachable
# (an answered pull runs to completion, however long it takes).
DOCKERD_LOG=/var/log/dockerd-setup.log
# Where a dockerd started by ensure_docker writes its output.

SETUP_LOG_NAME="${SETUP_LOG_NAME:-setup}"
setup_started=$(date +%s)
export DEBIAN_FRONTEND=noninteractive

setup_log() { echo "[$SETUP_LOG_NAME $(($(date +%s) - setup_started))s] $*" >&2; }
setup_die() {
  echo "[$SETUP_LOG_NAME] error: $*" >&2
  exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }

apt_updated=0
# apt_install PACKAGE...: install Debian packages (root only; apt-get update once per run).
apt_install() {
  is_root || setup_die "needs Debian packages $*: run \`sudo apt-get install $*\`, then run this again"
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  apt-get install -y -qq "$@" >/dev/null
}

UV_COMMAND=(uv)
# How to run uv; ensure_uv switches to `python3 -m uv` when pip put uv where PATH does not look.
uv() { command "${UV_COMMAND[@]}" "$@"; } # `command`: the program, not this function

# ensure_uv: uv from PyPI when missing (pip, installed from Debian first if needed).
ensure_uv() {
  local version
  if ! version=$(uv --version 2>/dev/null); then
    command -v python3 >/dev/null 2>&1 || apt_install python3
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    setup_log "uv: installing from PyPI"
    # Debian marks its Python as externally managed; uv is a self-contained binary wheel.
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet uv
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
    uv --version >/dev/null 2>&1 || UV_COMMAND=(python3 -m uv)
    version=$(uv --version 2>/dev/null) || setup_die "uv did not install; install it by hand (pip install uv) and run this again"
  fi
  setup_log "uv: $version"
}

# ensure_python_deps [--group NAME...]: the locked dependencies in .venv (no-op when current),
# plus the named optional groups. --inexact keeps what a user added on top, e.g. the aegra group.
# shellcheck disable=SC2120 # the groups are optional
ensure_python_deps() {
  uv sync --frozen --inexact --quiet "$@" || setup_die "uv sync --frozen $* failed (see above)"
  setup_log "python packages: in sync with uv.lock${*:+ ($*)}"
}

# ensure_disk_quota_tools: mkfs.ext4 (Debian's e2fsprogs) for per-thread workspace disk
# images (SANDBOX_DISK_QUOTA). Only a root server can mount them; others run without quotas.
ensure_disk_quota_tools() {
  if ! is_root; then
    setup_log "disk quotas: not root, so the server runs without workspace disk quotas (it says so at startup)"
    return
  fi
  if ! command -v mkfs.ext4 >/dev/null 2>&1; then
    setup_log "disk quotas: installing Debian's e2fsprogs (mkfs.ext4)"
    apt_install e2fsprogs
  fi
  setup_log "disk quotas: mkfs.ext4 present; workspaces get loop-mounted disk images"
}

docker_answers() { docker info >/dev/null 2>&1; }

# ensure_docker: a reachable Docker Engine: installed (Debian's docker.io) and running.
ensure_docker() {
  if docker_answers; then
    setup_log "docker: engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) is running"
    return
  fi
  if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
    is_root || setup_die "Docker Engine is not installed: run \`sudo apt-get install docker.io\` and \`sudo usermod -aG docker $(id -un)\` (then log in again), and run this again"
    setup_log "docker: installing Debian's docker.io"
    apt_install docker.io
    docker_answers && return
  fi
  if ! is_root; then
    if [ -S /var/run/docker.sock ] && [ -z "${DOCKER_HOST:-}" ]; then
      setup_die "Docker Engine is running but this user may not use it: run \`sudo usermod -aG docker $(id -un)\` (then log in again), or set DOCKER_HOST"
    fi
    setup_die "Docker Engine is not running: run \`sudo systemctl start docker\` (or \`sudo dockerd &\` without systemd), and run this again"
  fi
  if [ -d /run/systemd/system ]; then
    setup_log "docker: starting the docker service"
    systemctl start docker || true
  fi
  if ! docker_answers; then
    setup_log "docker: starting dockerd (log: $DOCKERD_LOG)"
    # Its own session, so stopping the server (Ctrl-C) or ending CI does not stop Docker.
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 60); do
    docker_answers && break
    sleep 1
  done
  docker_answers || {
    tail -50 "$DOCKERD_LOG" >&2 2>/dev/null
    setup_die "dockerd did not start (log: $DOCKERD_LOG)"
  }
  setup_log "docker: engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) is running"
}

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null; }
image_present() { [ -n "$(image_id "$1")" ]; }

# pull_if_registry_answers IMAGE: pull IMAGE when a registry answers within
# REGISTRY_PROBE_SECONDS; fail quickly (status 1) when none does.
pull_if_registry_answers() {
  local image=$1 output pid status
  output=$(mktemp)
  docker pull "$image" >"$output" 2>&1 &
  pid=$!
  local deadline=$((SECONDS + REGISTRY_PROBE_SECONDS))
  while [ "$SECONDS" -lt "$deadline" ]; do
    # "Pulling from" means the registry resolved the image: let the download finish.
    if ! kill -0 "$pid" 2>/dev/null || grep -q -e 'Pulling from' -e 'Digest:' "$output"; then
      status=0
      wait "$pid" || status=$?
      [ "$status" -eq 0 ] || setup_log "pull $image: $(tail -1 "$output")"
      rm -f "$output"
      return "$status"
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  setup_log "pull $image: no registry answered within ${REGISTRY_PROBE_SECONDS}s"
  rm -f "$output"
  return 1
}

# ensure_offline_image IMAGE: IMAGE present, built from Debian packages when missing.
ensure_offline_image() {
  local image=$1
  if image_present "$image"; then
    setup_log "sandbox image $image: present"
    return
  fi
  is_root || setup_die "sandbox image $image is missing; building it needs root: run \`sudo bash $OFFLINE_IMAGE_SCRIPT $image\`, and run this again"
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  setup_log "sandbox image $image: building offline from Debian packages (about a minute)"
  bash "$OFFLINE_IMAGE_SCRIPT" "$image" || setup_die "the offline image build failed (see above)"
  setup_log "sandbox image $image: built"
}

# project_setting NAME: NAME from the environment, else from .env (python-dotenv, as the
# server reads it; needs ensure_python_deps first); empty when neither sets it.
project_setting() {
  local name=$1
  if [ -n "${!name:-}" ]; then
    printf '%s\n' "${!name}"
  elif [ -f .env ]; then
    uv run --frozen --no-sync python -c 'import sys
from dotenv import dotenv_values
print((dotenv_values(".env").get(sys.argv[1]) or "").strip())' "$name"
  fi
}

# choose_sandbox_image: decide the image sandboxes use and export SANDBOX_IMAGE.
#   SANDBOX_IMAGE set (environment or .env): that image; when missing, a
#     deepagents-sandbox:<tag> is built offline and any other name is pulled.
#   Not set: python:3.13-slim or deepagents-sandbox:offline when one is already local;
#     else python:3.13-slim when a registry answers; else the offline build.
choose_sandbox_image() {
  local image
  image=$(project_setting SANDBOX_IMAGE)
  if [ -n "$image" ]; then
    if image_present "$image"; then
      setup_log "sandbox image $image (SANDBOX_IMAGE): present"
    elif [[ $image == "${OFFLINE_SANDBOX_IMAGE%%:*}:"* ]]; then
      ensure_offline_image "$image" # our own build's name: never looked up in a registry
    elif pull_if_registry_answers "$image"; then
      setup_log "sandbox image $image (SANDBOX_IMAGE): pulled"
    else
      setup_die "SANDBOX_IMAGE=$image is not a local image and no registry provided it: load it (docker load), build one with \`bash $OFFLINE_IMAGE_SCRIPT $image\`, or leave SANDBOX_IMAGE empty so this script builds $OFFLINE_SANDBOX_IMAGE"
    fi
  elif image_present "$DEFAULT_SANDBOX_IMAGE"; then
    image=$DEFAULT_SANDBOX_IMAGE
    setup_log "sandbox image $image: present"
  elif image_present "$OFFLINE_SANDBOX_IMAGE"; then
    image=$OFFLINE_SANDBOX_IMAGE
    setup_log "sandbox image $image: present (offline build)"
  elif pull_if_registry_answers "$DEFAULT_SANDBOX_IMAGE"; then
    image=$DEFAULT_SANDBOX_IMAGE
    setup_log "sandbox image $image: pulled"
  else
    image=$OFFLINE_SANDBOX_IMAGE
    setup_log "no registry answered: using the offline build $image"
    ensure_offline_image "$image"
  fi
  export SANDBOX_IMAGE=$image
  setup_log "sandboxes use SANDBOX_IMAGE=$image ($(image_id "$image"))"
}

# ensure_env_file: .env created from .env.example when missing; a note when the model's
# API key is still unset (the server starts, but every run names the variable and fails).
ensure_env_file() {
  if [ -f .env ]; then
    setup_log ".env: present"
  else
    cp .env.example .env
    chmod 600 .env
    setup_log ".env: created from .env.example"
  fi
  local key
  key=$(project_setting ZHIPUAI_API_KEY)
  if [ -z "$key" ] || [ "$key" = "your-zhipuai-api-key" ]; then
    setup_log "NOTE: ZHIPUAI_API_KEY is not set. The server starts, but every run fails until you put your key in $PROJECT_ROOT/.env (any non-empty value for a keyless vLLM/Ollama endpoint)."
  fi
}
