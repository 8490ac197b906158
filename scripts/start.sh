#!/usr/bin/env bash
# One command from a bare Debian machine to a running server:
#
#   bash scripts/start.sh [langgraph dev options, e.g. --port 8123 --host 0.0.0.0]
#
# Makes sure uv, the locked Python packages, .env, a running Docker Engine and a sandbox
# image are there (scripts/setup.sh; each step is skipped when already done), then runs
# the README's server command. Extra arguments go to `langgraph dev` and win over ours.
set -euo pipefail
SETUP_LOG_NAME=start
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

ensure_uv
ensure_python_deps
ensure_env_file
ensure_docker
ensure_disk_quota_tools
choose_sandbox_image # exports SANDBOX_IMAGE for the server

setup_log "ready: starting langgraph dev"
# Once the page answers, the last line names the web client (and, with auth on, how to get a token).
# $$ is the server's process after the exec below; the helper stops waiting when it is gone.
"${UV_COMMAND[@]}" run --frozen --no-sync python -m server.client_address --server-pid $$ -- "$@" &
exec "${UV_COMMAND[@]}" run --frozen --no-sync langgraph dev --no-browser --n-jobs-per-worker 32 "$@"
