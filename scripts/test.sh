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
# The test files that build namespaces of their own blackhole their whole ranges (listed in
# scripts/test-ranges.txt) while they run and leave those routes for a crashed run's
# leftovers; once no test host is left, the routes go too, every blackhole inside each range
# with them, so the machine's routing table ends as it was.
test_ranges_down() {
    local range route ip
    if ! ip netns list 2>/dev/null | grep -q '^pw'; then
        while read -r range _; do
            [[ -z $range || $range == '#'* ]] && continue
            ip=ip
            [[ $range == *:* ]] && ip='ip -6'
            while read -r route; do
                [[ -n $route ]] || continue
                # shellcheck disable=SC2086 # `ip -6` is two words, the route several
                $ip route del $route 2>/dev/null || true
            done < <($ip route show type blackhole root "$range" 2>/dev/null)
        done <scripts/test-ranges.txt
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
# nextest does not run doc examples; they are tests too.
cargo test --doc --workspace --locked
