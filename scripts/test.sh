#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, builds the test hosts,
# and runs every check: formatting, clippy with warnings as errors, and the whole test suite.
# Run as root on a Debian 12 machine: the test hosts are network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
# Everything `up` makes, `down` removes, also after a failure or an interrupted run.
trap 'scripts/testbed.sh down; scripts/test-pg.sh down' EXIT
scripts/test-pg.sh up
PORTWATCH_TEST_PG_URL=$(scripts/test-pg.sh url)
PORTWATCH_TEST_PG_CTL=$PWD/scripts/test-pg.sh
export PORTWATCH_TEST_PG_URL PORTWATCH_TEST_PG_CTL
scripts/testbed.sh up

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --no-fail-fast "$@"
