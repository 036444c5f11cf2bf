#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, builds the test hosts,
# and runs every check: formatting, clippy with warnings as errors, and the whole test suite.
# Run as root on a Debian 12 machine: the test hosts are network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

# A full debug build of the workspace and its test binaries takes about 10 GiB (5.3 GiB
# measured for the build, plus clippy's and nextest's output); what target/ already holds
# counts towards it. A build that runs out of space fails deep inside a linker with a bus
# error, so say it first.
check_disk_space() {
    local need_kb=$((10 * 1024 * 1024)) have_kb avail_kb
    mkdir -p target
    have_kb=$(du -sk target | cut -f1)
    avail_kb=$(df --output=avail -k target | tail -n 1)
    if ((avail_kb + have_kb < need_kb)); then
        printf 'test.sh: error: %s MiB free under %s; a full test build needs about %s MiB more\n' \
            "$((avail_kb / 1024))" "$PWD/target" "$(((need_kb - have_kb - avail_kb) / 1024))" >&2
        exit 1
    fi
}
check_disk_space
# CI builds from a clean tree once: incremental caches would only double the target's size.
if [[ -n ${CI:-} ]]; then export CARGO_INCREMENTAL=0; fi

scripts/install-test-deps.sh
# Everything `up` makes, `down` removes, also after a failure or an interrupted run.
# The test files that build namespaces of their own blackhole their whole ranges while they
# run and leave those routes for a crashed run's leftovers; once no test host is left, the
# routes go too, so the machine's routing table ends as it was.
test_ranges_down() {
    if ! ip netns list 2>/dev/null | grep -q '^pw'; then
        for range in 10.215.0.0/16 10.216.0.0/16 10.226.0.0/16 10.231.0.0/16 10.232.0.0/16 10.234.0.0/16 \
            10.236.0.0/16 10.239.0.0/16; do
            ip route del blackhole "$range" 2>/dev/null || true
        done
        ip -6 route del blackhole fd00:216::/32 2>/dev/null || true
        ip -6 route del blackhole fd00:232::/32 2>/dev/null || true
        ip -6 route del blackhole fd00:236::/32 2>/dev/null || true
    fi
}
trap 'scripts/testbed.sh down; scripts/test-pg.sh down; test_ranges_down' EXIT
scripts/test-pg.sh up
PORTWATCH_TEST_PG_URL=$(scripts/test-pg.sh url)
PORTWATCH_TEST_PG_CTL=$PWD/scripts/test-pg.sh
export PORTWATCH_TEST_PG_URL PORTWATCH_TEST_PG_CTL
scripts/testbed.sh up

cargo fmt --all -- --check
# Every dependency a Cargo.toml declares is used (an unused one is an error).
cargo machete
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --no-fail-fast "$@"
