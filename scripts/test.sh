#!/usr/bin/env bash
# The one test command: installs what the tests need when it is missing
# (Debian packages, npm packages), then runs every test in the workspace.
#
#   ./scripts/test.sh            everything
#   ./scripts/test.sh -p sse-wire   extra arguments go to `cargo test`
#
# Tests that need an outside program (chromium, nginx+nchan, redis-server,
# node, tinyproxy) skip with a message under a bare `cargo test`; here SSE_TEST_STRICT=1
# turns a missing program into a failure, so CI can never pass by skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

started=$(date +%s)

# What the integration tests drive: a real browser, real peers, real Redis.
apt_install chromium nginx libnginx-mod-nchan redis-server redis-sentinel curl tinyproxy openssl
npm_ci tests/browser

export SSE_TEST_STRICT=1
export RUST_BACKTRACE=1

echo "==> cargo test (all targets)"
cargo test --workspace --all-targets "$@"
echo "==> sse-hub without its optional features (no Redis)"
cargo check -p sse-hub --no-default-features --all-targets
echo "==> cargo test (doc examples)"
cargo test --workspace --doc "$@"

echo "==> decoder properties with many cases (release)"
PROPTEST_CASES=${PROPTEST_CASES_SMOKE:-20000} cargo test --release -p sse-wire --test properties -- --quiet

echo "==> decoder fuzz smoke (libFuzzer on stable, ${FUZZ_SECONDS:-30}s)"
./scripts/fuzz.sh "${FUZZ_SECONDS:-30}"

echo "==> all tests passed in $(( $(date +%s) - started ))s"
