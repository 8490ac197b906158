#!/usr/bin/env bash
# The production-style deployment on this machine: the project's langgraph.json (graph,
# auth module, HTTP app) served by Aegra, with threads and checkpoints in PostgreSQL and,
# for several server processes, runs and streams shared through Redis.
#
#   bash deploy/aegra/serve.sh --port PORT [--workers N] [--host HOST] [--data-dir DIR] [--config FILE]
#
#   --port PORT      port the server listens on (required)
#   --workers N      server processes on that one port (default 1); N > 1 uses Redis
#   --host HOST      address to bind (default 127.0.0.1; 0.0.0.0 behind a load balancer)
#   --data-dir DIR   where a local PostgreSQL/Redis keep their files (default .data/aegra)
#   --config FILE    the langgraph.json to serve (default the project's)
#
# What it starts:
#   - PostgreSQL: DATABASE_URL (environment or .env) when set; otherwise a local PostgreSQL
#     from Debian's packages (installed when missing and root) in DIR/pg on a free loopback
#     port, with a password kept in DIR/secrets.env. A second start reuses it.
#   - Redis: REDIS_URL when set (with any N); otherwise, when N > 1, a local redis-server
#     on a free loopback port. With N = 1 and no REDIS_URL, no Redis: runs stay in-process.
#   - Aegra: the database is migrated once here, then N uvicorn workers start with
#     RUN_MIGRATIONS_ON_STARTUP=false, so they never race on the schema.
# When run as root, PostgreSQL and Redis run as Debian's `postgres` / `redis` users
# (PostgreSQL refuses root). It prints "ready: ..." with the URL once /info answers on every
# worker. While it runs, DIR/connection.env holds the local DATABASE_URL / REDIS_URL (0600)
# for tools and tests.
#
# Stopping: this script sets up uv and the Python packages, then execs the entry point
# deploy/aegra/serve.py, which starts all of the above as its own children. Ctrl-C,
# SIGTERM or SIGHUP to it stops the server, then Redis, then PostgreSQL, and exits
# 130/143/129; if it is killed outright (SIGKILL) or the process that started it dies,
# everything it started ends too. Nothing outlives it.
set -euo pipefail
CALLER_DIR=$PWD
SETUP_LOG_NAME=serve
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/setup.sh" # cds into the project root

ensure_uv
ensure_python_deps --group aegra
PYTHON=$(uv run --frozen --no-sync python -c 'import sys; print(sys.executable)')

# The entry point checks the options, runs the remaining set-up steps (Docker, disk-quota
# tools, the sandbox image) and starts everything. exec: it is the process that gets the
# operator's signals. Relative paths in the options are the caller's.
export SERVE_STARTED_AT=$setup_started
cd "$CALLER_DIR"
exec "$PYTHON" "$PROJECT_ROOT/deploy/aegra/serve.py" "$@"
