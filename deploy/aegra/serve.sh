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
# worker, and stops everything it started on Ctrl-C / SIGTERM. While it runs,
# DIR/connection.env holds the local DATABASE_URL / REDIS_URL (0600) for tools and tests.
set -euo pipefail
CALLER_DIR=$PWD
SETUP_LOG_NAME=serve
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/setup.sh" # cds into the project root

STARTUP_TIMEOUT=600
# Seconds the server may take to answer /info on every worker (imports are slow on a busy machine).
STOP_TIMEOUT=60
# Seconds the server gets to stop (uvicorn drains, Aegra finishes its jobs) before it is killed.
PG_USER=aegra
PG_DATABASE=aegra
STREAM_CONNECTIONS=100
# Aegra holds one SQLAlchemy connection for as long as a run's stream is open, so its default
# pool (10 + 20 overflow) fails the 31st concurrent stream after a 30 s wait (HTTP 500). Unless
# set, SQLALCHEMY_MAX_OVERFLOW lets one process hold this many streams at once.
PG_CONNECTIONS_PER_WORKER=$((STREAM_CONNECTIONS + 20))
# Aegra opens up to SQLALCHEMY_POOL_SIZE + SQLALCHEMY_MAX_OVERFLOW + LANGGRAPH_MAX_POOL_SIZE
# (10 + 90 + 20 here) connections per process; the local PostgreSQL allows that per worker.
MOUNT_ROOT=/run/sandboxed-deep-agent
# Where a data folder the service users cannot reach is bind-mounted while the script runs.

usage() {
  sed -n '6,12p' "$PROJECT_ROOT/deploy/aegra/serve.sh" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

port="" workers=1 host=127.0.0.1 data_dir=.data/aegra config=langgraph.json
while [ $# -gt 0 ]; do
  case "$1" in
  --port) port=${2:-} && shift 2 ;;
  --workers) workers=${2:-} && shift 2 ;;
  --host) host=${2:-} && shift 2 ;;
  --data-dir) data_dir=${2:-} && shift 2 ;;
  --config) config=${2:-} && shift 2 ;;
  -h | --help) usage ;;
  *)
    echo "serve.sh: unknown option $1" >&2
    usage
    ;;
  esac
done
if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  setup_die "--port PORT is required (1-65535)"
fi
if ! [[ $workers =~ ^[0-9]+$ ]] || [ "$workers" -lt 1 ]; then
  setup_die "--workers N needs a whole number of at least 1, not '$workers'"
fi
[ -n "$host" ] || setup_die "--host needs an address"
# Relative paths are the caller's, as with any command.
data_dir=$(cd "$CALLER_DIR" && realpath -m -- "$data_dir")
config=$(cd "$CALLER_DIR" && realpath -m -- "$config")
[ -f "$config" ] || setup_die "--config $config: no such file"

# --- cleanup: whatever was started is stopped, last started first -----------------------
cleanups=()
# shellcheck disable=SC2317 # on_exit, stop_local_postgres and stop_pid run from the EXIT trap
on_exit() {
  local status=$? i
  trap - EXIT INT TERM
  for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do
    eval "${cleanups[i]}" || true
  done
  # A step interrupted while it ran in the background (run_interruptible) ends too.
  local leftover
  for leftover in $(jobs -p); do kill "$leftover" 2>/dev/null || true; done
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_interruptible CMD...: run CMD in the background and wait for it, so that a signal to
# this script is handled at once (bash defers traps while a foreground child runs).
run_interruptible() {
  "$@" &
  local pid=$! status=0
  wait "$pid" || status=$?
  return "$status"
}

# --- the project: packages (with the aegra group), settings, Docker, sandbox image --------
ensure_uv
ensure_python_deps --group aegra
PYTHON=$(uv run --frozen --no-sync python -c 'import sys; print(sys.executable)')

# .env reaches the server's own settings anyway (config/ loads it); Aegra's (DATABASE_URL,
# REDIS_URL, LOG_LEVEL, N_JOBS_PER_WORKER...) are read from the environment only, so its
# variables are exported here. Variables already in the environment win, as everywhere.
if [ -f .env ]; then
  eval "$("$PYTHON" -c 'import os, shlex
from dotenv import dotenv_values
for key, value in dotenv_values(".env").items():
    if key.isidentifier() and key not in os.environ and value is not None:
        print(f"export {key}={shlex.quote(value)}")')"
  setup_log ".env: read (the environment wins over it)"
else
  setup_log ".env: none; settings come from the environment (see .env.example)"
fi
if [ -z "${ZHIPUAI_API_KEY:-}" ] || [ "${ZHIPUAI_API_KEY:-}" = "your-zhipuai-api-key" ]; then
  setup_log "NOTE: ZHIPUAI_API_KEY is not set. The server starts, but every run fails until you set it."
fi
ensure_docker
ensure_disk_quota_tools
choose_sandbox_image # exports SANDBOX_IMAGE for the server

# --- local services: folders, users, ports ----------------------------------------------
free_loopback_port() {
  "$PYTHON" -c 'import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])'
}

random_secret() { "$PYTHON" -c 'import secrets; print(secrets.token_hex(24))'; }

# service_user NAME...: the first of NAME... that exists (root), or the caller (not root).
service_user() {
  if ! is_root; then
    id -un
    return
  fi
  local name
  for name in "$@"; do
    if id -u "$name" >/dev/null 2>&1; then
      echo "$name"
      return
    fi
  done
  setup_die "none of the users $* exists to run a local service as (they come with Debian's packages; PostgreSQL refuses to run as root)"
}

# user_prefix USER: sets RUN_AS to the command prefix that runs a program as USER in place
# (setpriv execs it: no extra process, the environment kept); empty for the caller's own user.
RUN_AS=()
user_prefix() {
  RUN_AS=()
  if is_root && [ "$1" != root ]; then
    RUN_AS=(setpriv --reuid="$(id -u "$1")" --regid="$(id -g "$1")" --init-groups --)
  fi
}

# as_user USER CMD...: run CMD as USER.
as_user() {
  user_prefix "$1"
  shift
  "${RUN_AS[@]}" "$@"
}

# services_running: whether a PostgreSQL or Redis started in data_dir still runs (pid files).
services_running() {
  local pid_file pid
  for pid_file in "$data_dir/pg/data/postmaster.pid" "$data_dir/redis/redis.pid"; do
    pid=$(head -1 "$pid_file" 2>/dev/null) || continue
    if [[ $pid =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ]; then return 0; fi
  done
  return 1
}

service_dir="" # data_dir as the service users see it: itself, or a bind mount of it
prepare_data_dir() {
  mkdir -p "$data_dir"
  chmod 755 "$data_dir"
  service_dir=$data_dir
  is_root || return 0
  local user
  for user in "$@"; do
    if ! as_user "$user" test -x "$data_dir"; then
      # A parent folder (e.g. /root, or a 0700 temporary folder) is closed to other users.
      # Rather than opening it, show them the data folder through a bind mount meanwhile.
      local mount_point
      mount_point="$MOUNT_ROOT/aegra-$(printf %s "$data_dir" | sha256sum | cut -c1-16)"
      mkdir -p "$mount_point"
      chmod 755 "$MOUNT_ROOT" "$mount_point"
      if ! mountpoint -q "$mount_point"; then
        mount --bind "$data_dir" "$mount_point" ||
          setup_die "the $user user cannot reach $data_dir (a parent folder is closed to other users) and it could not be bind-mounted at $mount_point: pass --data-dir in a folder other users can enter"
      elif services_running; then
        service_dir=$mount_point
        return # another serve.sh uses this folder: its mount stays; starting PostgreSQL will say so
      fi
      # Ours now (or left by a serve.sh that was killed): unmounted when this one stops.
      echo "$mount_point" >"$data_dir/mounted-at"
      cleanups+=("umount '$mount_point' && rmdir '$mount_point' && rm -f '$data_dir/mounted-at'")
      service_dir=$mount_point
      setup_log "data folder: $data_dir is closed to the $user user; bind-mounted at $mount_point while serving"
      return
    fi
  done
}

# secret NAME: a password kept in data_dir/secrets.env (0600), made once and reused.
secret() {
  local name=$1 file="$data_dir/secrets.env" value
  touch "$file"
  chmod 600 "$file"
  value=$(sed -n "s/^$name=//p" "$file")
  if [ -z "$value" ]; then
    value=$(random_secret)
    echo "$name=$value" >>"$file"
  fi
  echo "$value"
}

# --- PostgreSQL ------------------------------------------------------------------------------
pg_bin=""
find_postgres() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
    pg_bin=$dir
  elif command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    pg_bin=$(dirname "$(command -v initdb)")
  fi
  [ -n "$pg_bin" ]
}

start_local_postgres() {
  if ! find_postgres; then
    setup_log "postgresql: installing Debian's postgresql"
    apt_install postgresql
    find_postgres || setup_die "postgresql installed, but initdb/pg_ctl were not found under /usr/lib/postgresql"
  fi
  local user pg_home pg_data log password pg_port
  user=$(service_user postgres)
  pg_home="$data_dir/pg"
  mkdir -p "$pg_home"
  chmod 700 "$pg_home"
  is_root && chown "$user:" "$pg_home"
  pg_data="$service_dir/pg/data"
  log="$service_dir/pg/postgres.log"
  password=$(secret POSTGRES_PASSWORD)
  if [ ! -f "$pg_home/data/PG_VERSION" ]; then
    setup_log "postgresql: creating a cluster in $pg_home/data (superuser $PG_USER)"
    local pwfile="$pg_home/initdb-password"
    (umask 077 && echo "$password" >"$pwfile")
    is_root && chown "$user:" "$pwfile"
    as_user "$user" "$pg_bin/initdb" -D "$pg_data" -U "$PG_USER" --pwfile="$service_dir/pg/initdb-password" \
      --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C >"$pg_home/initdb.log" 2>&1 || {
      rm -f "$pwfile"
      tail -30 "$pg_home/initdb.log" >&2
      setup_die "initdb failed (log: $pg_home/initdb.log)"
    }
    rm -f "$pwfile"
    # Loopback TCP only: no Unix socket, so nothing depends on /var/run/postgresql.
    printf "%s\n" "listen_addresses = '127.0.0.1'" "unix_socket_directories = ''" >>"$pg_home/data/postgresql.conf"
  fi
  if as_user "$user" "$pg_bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
    setup_die "the PostgreSQL of $data_dir is already running: another serve.sh uses this data folder, or one was killed (then stop it: \`setpriv --reuid=$user --regid=$user --init-groups $pg_bin/pg_ctl -D $pg_data stop\`)"
  fi
  cleanups+=("stop_local_postgres '$user' '$pg_data'")
  user_prefix "$user"
  local attempt log_start
  for attempt in 1 2 3; do
    pg_port=$(free_loopback_port)
    setup_log "postgresql: starting on 127.0.0.1:$pg_port (log: $pg_home/postgres.log)"
    log_start=$(stat -c %s "$pg_home/postgres.log" 2>/dev/null || echo 0)
    # setsid: its own session, so a Ctrl-C meant for this script does not reach it first.
    run_interruptible setsid -w "${RUN_AS[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$log" -w -t 120 \
      -o "-p $pg_port -c max_connections=$((PG_CONNECTIONS_PER_WORKER * workers + 20))" start >/dev/null && break
    # Another program took the free port in the meantime: try another one.
    if [ "$attempt" -lt 3 ] && tail -c +"$((log_start + 1))" "$pg_home/postgres.log" | grep -q "already in use"; then
      continue
    fi
    tail -30 "$pg_home/postgres.log" >&2
    setup_die "PostgreSQL did not start (log: $pg_home/postgres.log)"
  done
  # The password goes by environment, never on a command line other users can read.
  local psql=("$pg_bin/psql" "postgresql://$PG_USER@127.0.0.1:$pg_port/postgres")
  if [ -z "$(PGPASSWORD=$password PGCONNECT_TIMEOUT=10 "${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" ]; then
    PGPASSWORD=$password "${psql[@]}" -qc "CREATE DATABASE $PG_DATABASE" || setup_die "could not create the database $PG_DATABASE"
    setup_log "postgresql: created database $PG_DATABASE"
  fi
  export DATABASE_URL="postgresql://$PG_USER:$password@127.0.0.1:$pg_port/$PG_DATABASE"
  setup_log "postgresql: ready (database $PG_DATABASE)"
}

# shellcheck disable=SC2317
stop_local_postgres() {
  local user=$1 pg_data=$2
  setup_log "postgresql: stopping"
  as_user "$user" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w -t 60 stop >/dev/null ||
    setup_log "postgresql: pg_ctl stop failed; see $data_dir/pg/postgres.log"
}

# --- Redis ---------------------------------------------------------------------------------
start_local_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    setup_log "redis: installing Debian's redis-server"
    apt_install redis-server
  fi
  local user redis_home password redis_port redis_pid
  user=$(service_user redis postgres)
  redis_home="$data_dir/redis"
  mkdir -p "$redis_home"
  chmod 700 "$redis_home"
  password=$(secret REDIS_PASSWORD)
  local running
  running=$(head -1 "$redis_home/redis.pid" 2>/dev/null || true)
  if [[ $running =~ ^[0-9]+$ ]] && [ -d "/proc/$running" ]; then
    setup_die "the Redis of $data_dir is already running (pid $running): another serve.sh uses this data folder, or one was killed (then stop that process)"
  fi
  is_root && chown "$user:" "$redis_home"
  user_prefix "$user"
  local attempt deadline
  for attempt in 1 2 3; do
    redis_port=$(free_loopback_port)
    # The broker's queues and channels live while the servers run; nothing is saved to disk.
    (umask 077 && cat >"$redis_home/redis.conf" <<EOF
bind 127.0.0.1
port $redis_port
protected-mode yes
requirepass $password
daemonize no
dir $service_dir/redis
pidfile $service_dir/redis/redis.pid
logfile ""
save ""
appendonly no
EOF
    )
    is_root && chown "$user:" "$redis_home/redis.conf"
    setup_log "redis: starting on 127.0.0.1:$redis_port (log: $redis_home/redis.log)"
    setsid "${RUN_AS[@]}" redis-server "$service_dir/redis/redis.conf" >"$redis_home/redis.log" 2>&1 </dev/null &
    redis_pid=$!
    cleanups+=("stop_pid redis $redis_pid 20")
    deadline=$((SECONDS + 60))
    until grep -q "Ready to accept connections" "$redis_home/redis.log" 2>/dev/null; do
      if ! kill -0 "$redis_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
        break
      fi
      sleep 0.2
    done
    if grep -q "Ready to accept connections" "$redis_home/redis.log"; then
      break
    fi
    stop_pid redis "$redis_pid" 5
    # Another program took the free port in the meantime: try another one.
    if [ "$attempt" -lt 3 ] && grep -q "already in use" "$redis_home/redis.log"; then
      continue
    fi
    tail -30 "$redis_home/redis.log" >&2
    setup_die "Redis did not start (log: $redis_home/redis.log)"
  done
  export REDIS_URL="redis://:$password@127.0.0.1:$redis_port/0"
  setup_log "redis: ready"
}

# stop_pid NAME PID SECONDS: SIGTERM PID, then SIGKILL its process group after SECONDS.
# shellcheck disable=SC2317
stop_pid() {
  local name=$1 pid=$2 timeout=$3
  kill -0 "$pid" 2>/dev/null || return 0
  setup_log "$name: stopping"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    setup_log "$name: did not stop within ${timeout}s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# --- start -------------------------------------------------------------------------------------
export DATABASE_URL="${DATABASE_URL:-}" REDIS_URL="${REDIS_URL:-}"
needs_local=()
[ -n "$DATABASE_URL" ] || needs_local+=(postgres)
[ -n "$REDIS_URL" ] || [ "$workers" -eq 1 ] || needs_local+=(redis postgres)
[ "${#needs_local[@]}" -eq 0 ] || prepare_data_dir "${needs_local[@]}"

if [ -n "$DATABASE_URL" ]; then
  setup_log "postgresql: DATABASE_URL is set; no local PostgreSQL"
else
  start_local_postgres
fi
if [ -n "$REDIS_URL" ]; then
  setup_log "redis: REDIS_URL is set; runs and streams are shared through it"
  export REDIS_BROKER_ENABLED=true
elif [ "$workers" -gt 1 ]; then
  start_local_redis
  export REDIS_BROKER_ENABLED=true
else
  setup_log "redis: not needed for one process (no REDIS_URL); runs stay in that process"
  export REDIS_BROKER_ENABLED=false
fi
if [ "${#needs_local[@]}" -gt 0 ]; then
  (umask 077 && printf 'DATABASE_URL=%s\nREDIS_URL=%s\n' "$DATABASE_URL" "$([ "$REDIS_BROKER_ENABLED" = true ] && echo "$REDIS_URL")" >"$data_dir/connection.env")
  cleanups+=("rm -f '$data_dir/connection.env'")
fi

# Aegra's own settings: the config to serve, where to listen, and no per-worker migrations.
# ENV_MODE=PRODUCTION logs one JSON object per line (LOCAL: coloured console lines).
export AEGRA_CONFIG=$config HOST=$host PORT=$port RUN_MIGRATIONS_ON_STARTUP=false ENV_MODE=${ENV_MODE:-PRODUCTION}
export SQLALCHEMY_MAX_OVERFLOW=${SQLALCHEMY_MAX_OVERFLOW:-$((STREAM_CONNECTIONS - ${SQLALCHEMY_POOL_SIZE:-10}))}

setup_log "database: migrating once before the workers start"
run_interruptible "$PYTHON" deploy/aegra/prepare.py || setup_die "the database or Redis is not usable (see above)"

# One port, N processes: uvicorn's supervisor shares the listening socket between N workers
# and replaces one that dies. With Redis every worker can join any run's stream and pick up
# any queued run, so a client may land on any of them (as behind a load balancer).
server_log="$data_dir/server.log"
mkdir -p "$data_dir"
[ ! -f "$server_log" ] || mv -f "$server_log" "$server_log.previous"
: >"$server_log"
# The server's output goes to its log; this shows it on the terminal too, until the end.
tail -n +1 -F --pid=$$ "$server_log" 2>/dev/null &
cleanups+=("sleep 1; kill $! 2>/dev/null")
setup_log "ready soon: starting Aegra with $workers worker(s) on http://$host:$port (log: $server_log)"
setsid "$PYTHON" -m uvicorn aegra_api.main:app --host "$host" --port "$port" --workers "$workers" \
  --timeout-worker-healthcheck 60 --timeout-graceful-shutdown 20 --no-access-log \
  >>"$server_log" 2>&1 </dev/null &
server_pid=$!
cleanups+=("stop_pid server $server_pid $STOP_TIMEOUT")

url_host=$host
[ "$host" != 0.0.0.0 ] || url_host=127.0.0.1
url="http://$url_host:$port"
if ! run_interruptible "$PYTHON" deploy/aegra/wait_ready.py --url "$url" --workers "$workers" --log "$server_log" \
  --pid "$server_pid" --timeout "$STARTUP_TIMEOUT"; then
  setup_die "Aegra did not come up (log: $server_log)"
fi
setup_log "ready: Aegra serves $config on $url ($workers worker(s), /info answers; Ctrl-C stops it all)"
status=0
wait "$server_pid" || status=$?
setup_log "the server exited with code $status"
exit "$status"
