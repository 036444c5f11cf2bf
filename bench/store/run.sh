#!/usr/bin/env bash
# Ingest benchmark of portwatch-store on SQLite and PostgreSQL: SCANS scans of HOSTS hosts x
# PORTS ports (OPEN open per host) with CHANGES state changes spread over them. Prints one
# JSON line per backend. Needs a PostgreSQL server with trust auth: PG_ADMIN, else
# PORTWATCH_TEST_PG_URL, else 127.0.0.1:5432.
set -euo pipefail
cd "$(dirname "$0")/../.."

SCANS=${SCANS:-1000} HOSTS=${HOSTS:-1000} PORTS=${PORTS:-100} OPEN=${OPEN:-3} CHANGES=${CHANGES:-50}
PG_ADMIN=${PG_ADMIN:-${PORTWATCH_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}}
args=(--scans "$SCANS" --hosts "$HOSTS" --ports "$PORTS" --open "$OPEN" --changes "$CHANGES")

cargo build --quiet --release -p portwatch-store --example ingest_bench
bin=target/release/examples/ingest_bench

tmp=$(mktemp -d)
pgdb="pwbench_$(date +%s)_$$"
cleanup() {
    rm -rf "$tmp"
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$bin" --url "sqlite://$tmp/bench.db" "${args[@]}"

if ! psql -q "$PG_ADMIN" -c 'SELECT 1' >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    sleep 2
fi
psql -q "$PG_ADMIN" -c "CREATE DATABASE $pgdb" >/dev/null
"$bin" --url "${PG_ADMIN%/*}/$pgdb" "${args[@]}"
