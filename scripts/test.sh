#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, builds the test hosts,
# and runs every check: formatting, clippy with warnings as errors, and the whole test suite.
# Run as root on a Debian 12 machine: the test hosts are network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
scripts/testbed.sh up
trap 'scripts/testbed.sh down' EXIT

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --no-fail-fast "$@"
