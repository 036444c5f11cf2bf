#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, builds the test hosts,
# and runs every check: formatting, clippy with warnings as errors, and the whole test suite.
# Run as root on a Debian 12 machine: the test hosts are network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
# Everything `up` makes, `down` removes, also after a failure or an interrupted run.
# The test files that build namespaces of their own blackhole their whole ranges while they
# run and leave those routes for a crashed run's leftovers; once no test host is left, the
# routes go too, so the machine's routing table ends as it was.
test_ranges_down() {
    if ! ip netns list 2>/dev/null | grep -q '^pw'; then
        for range in 10.215.0.0/16 10.216.0.0/16 10.226.0.0/16 10.231.0.0/16 10.232.0.0/16 10.239.0.0/16; do
            ip route del blackhole "$range" 2>/dev/null || true
        done
        ip -6 route del blackhole fd00:216::/32 2>/dev/null || true
        ip -6 route del blackhole fd00:232::/32 2>/dev/null || true
    fi
}
trap 'scripts/testbed.sh down; scripts/test-pg.sh down; test_ranges_down' EXIT
scripts/test-pg.sh up
PORTWATCH_TEST_PG_URL=$(scripts/test-pg.sh url)
PORTWATCH_TEST_PG_CTL=$PWD/scripts/test-pg.sh
export PORTWATCH_TEST_PG_URL PORTWATCH_TEST_PG_CTL
scripts/testbed.sh up

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --no-fail-fast "$@"
