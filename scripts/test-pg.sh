#!/usr/bin/env bash
# The PostgreSQL server the tests use: a cluster this script creates and owns (its own data
# directory, port and trust authentication on 127.0.0.1 only), so the tests never depend on
# or change the machine's own cluster, its port or its pg_hba.conf. Run as root.
#
# Usage: scripts/test-pg.sh up|down|start|stop|restart|status|url
#   up        install PostgreSQL if missing, create the cluster (anew) and start it
#   down      stop the cluster and delete its data directory
#   start, stop, restart   for fault tests (a PostgreSQL restart mid-run)
#   url       print the admin URL (PORTWATCH_TEST_PG_URL)
set -euo pipefail
# shellcheck source=scripts/boot-units.sh
source "$(dirname "${BASH_SOURCE[0]}")/boot-units.sh"

readonly PORT=${PORTWATCH_TEST_PG_PORT:-55432}
readonly DATA_DIR=${PORTWATCH_TEST_PG_DIR:-/var/tmp/portwatch-test-pg}
readonly LOG_FILE=$DATA_DIR.log
readonly POLICY_RC=/usr/sbin/policy-rc.d

log() { printf 'test-pg: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

url() { printf 'postgres://postgres@127.0.0.1:%s/postgres\n' "$PORT"; }

# The newest installed server's bin directory, or nothing.
bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $dir && -x $dir/initdb ]] && printf '%s' "$dir"
}

remove_policy_rc() { rm -f "$POLICY_RC"; }

# Installs the server package without starting anything (policy-rc.d answers 101), so a
# machine that had no PostgreSQL running still has none running afterwards but ours.
install_server() {
  [[ -n $(bin_dir) ]] && return
  log "installing PostgreSQL"
  if [[ ! -e $POLICY_RC ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
    chmod 0755 "$POLICY_RC"
    trap remove_policy_rc EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  local links before
  links=$(boot_unit_links)
  before=$(ls /etc/postgresql 2>/dev/null || true)
  apt-get update -qq
  apt-get install -y -qq -o Dpkg::Use-Pty=0 postgresql postgresql-client
  [[ -n $(bin_dir) ]] || die "postgresql installed, but no initdb under /usr/lib/postgresql"
  disable_units_enabled_since "$links"
  # The package also creates a cluster `main` (on port 5432, never started here): the machine
  # had none, so it is dropped again; only this script's own cluster is used.
  if [[ -z $before ]] && command -v pg_lsclusters >/dev/null; then
    local version name _
    while read -r version name _; do
      log "dropping the cluster $version/$name the package created"
      pg_dropcluster "$version" "$name" || true
    done < <(pg_lsclusters --no-header 2>/dev/null)
  fi
}

as_postgres() { runuser -u postgres -- "$@"; }

pg_ctl() { as_postgres "$(bin_dir)/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" "$@"; }

running() { [[ -d $DATA_DIR ]] && pg_ctl status >/dev/null 2>&1; }

wait_ready() {
  local _
  for _ in {1..100}; do
    "$(bin_dir)/pg_isready" -q -h 127.0.0.1 -p "$PORT" && return 0
    sleep 0.1
  done
  die "the test cluster does not answer on 127.0.0.1:$PORT (log: $LOG_FILE)"
}

start() {
  running && return
  pg_ctl -w -o "-p $PORT" start >/dev/null
  wait_ready
}

stop() {
  running || return 0
  pg_ctl -w -m fast stop >/dev/null
}

# Pids of the processes with DATA_DIR as one of their arguments: the server pg_ctl started,
# and the single-user backend initdb runs (it outlives an initdb killed midway).
pids_of_cluster() {
  local f pid
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    tr '\0' '\n' 2>/dev/null <"$f" | grep -qxF -- "$DATA_DIR" && printf '%s\n' "$pid"
  done
  return 0
}

# Kills what a `pg_ctl stop` could not stop (an `up` killed midway leaves such processes),
# and waits until they are gone.
kill_leftovers() {
  local pids _
  for _ in {1..50}; do
    pids=$(pids_of_cluster)
    [[ -z $pids ]] && return 0
    # shellcheck disable=SC2086 # one word per pid
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  die "processes of $DATA_DIR do not exit: $pids"
}

down() {
  if [[ -d $DATA_DIR ]]; then
    if [[ -n $(bin_dir) ]]; then stop || log "pg_ctl stop failed; killing the cluster's processes"; fi
    kill_leftovers
    rm -rf "$DATA_DIR"
  fi
  rm -f "$LOG_FILE"
}

up() {
  ((EUID == 0)) || die "run as root (apt-get, runuser)"
  install_server
  id postgres >/dev/null 2>&1 || die "no postgres user after installing PostgreSQL"
  down
  install -d -o postgres -g postgres -m 0700 "$DATA_DIR"
  touch "$LOG_FILE" && chown postgres:postgres "$LOG_FILE"
  as_postgres "$(bin_dir)/initdb" -D "$DATA_DIR" -U postgres -A trust -E UTF8 \
    --no-instructions >/dev/null
  # Loopback TCP only, the socket inside the data directory: nothing the machine's own
  # cluster uses is touched.
  cat >>"$DATA_DIR/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA_DIR'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  start
  log "cluster up at $(url)"
}

case ${1:-} in
up) up ;;
down) down ;;
start) start ;;
stop) stop ;;
restart)
  stop
  start
  ;;
status) running ;;
url) url ;;
*)
  sed -n '2,10p' "$0" >&2
  exit 2
  ;;
esac
