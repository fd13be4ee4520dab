#!/usr/bin/env bash
# The whole test suite: installs and starts what the tests need, runs every check, stops it all.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_PROFILE_DEV_DEBUG=0
export CARGO_PROFILE_TEST_DEBUG=0
export CARGO_INCREMENTAL=0

source scripts/services.sh
trap stop_services EXIT

step() { printf '\n=== %s (%ss)\n' "$*" "$SECONDS"; }

step "toolchain"
cargo --version
rustup component list --installed 2>/dev/null | grep -Eq '^(rustfmt|clippy)' || rustup component add rustfmt clippy

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# Build every test and binary first: some services (the contract fakes) are our own binaries.
step "cargo build (tests and binaries)"
cargo test --workspace --locked --no-run
# only the fake servers: a workspace-wide `cargo build` would compile much of the tree again
# without the dev-dependencies' features
cargo build --locked -p provisio-fake-jenkins -p provisio-fake-cloudflare -p provisio-fake-azure --bins

step "services"
start_postgres
start_git_sshd
start_jenkins_fake
start_moto
start_cloudflare_fake_and_prism
start_azurite

step "cargo test"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$PROVISIO_SERVICES_DIR/cargo-test.log"
summary=$(grep -E '^test result:' "$PROVISIO_SERVICES_DIR/cargo-test.log" |
  awk '{p+=$4; f+=$6} END {printf "%d passed, %d failed", p, f}')

step "done"
echo "$summary"
