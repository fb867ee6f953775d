#!/usr/bin/env bash
# The long runs behind RELIABILITY.md, each printing its FIGURE lines:
#   - hostile servers with a multi-gigabyte response (default 4 GiB),
#   - crash durability with more SIGKILLs (default 100),
#   - hostile clients: 10,000 bad requests mixed with real traffic against
#     the release hub pinned to its own core, with the p99 check (at most
#     1.5x the quiet run) turned on,
#   - the authorization matrix,
#   - Redis Sentinel failovers without the replica wait (`replicas=0`), with
#     the replication links up and cut first: acknowledged updates lost,
#     counted (the `#[ignore]`d tests of crates/sse-cli/tests/scale_out.rs),
#   - the fuzz targets (default 300 s shared by all targets).
# Usage: scripts/reliability.sh        (everything, ~15 minutes on 2 cores)
# Environment: SSE_HOSTILE_BYTES, SSE_CRASH_KILLS, SSE_HOSTILE_REQUESTS,
# SSE_HOSTILE_RATE, FUZZ_SECONDS override the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

figures() { grep -E "FIGURE|test result|panicked|FAILED" || true; }

echo "==> hostile servers (${SSE_HOSTILE_BYTES:=4294967296} bytes)"
SSE_HOSTILE_BYTES=$SSE_HOSTILE_BYTES cargo test -q -p sse-eventsource --test hostile_servers -- --nocapture --test-threads=1 2>&1 | figures

echo "==> crash durability (${SSE_CRASH_KILLS:=100} SIGKILLs)"
SSE_CRASH_KILLS=$SSE_CRASH_KILLS cargo test -q -p sse-cli --test crash_durability -- --nocapture 2>&1 | figures

echo "==> hostile clients (${SSE_HOSTILE_REQUESTS:=10000} bad requests at ${SSE_HOSTILE_RATE:=1000}/s, p99 checked)"
# The release hub pinned to core 0, the clients to core 1 (TESTING.md), so
# the latency figure measures the hub rather than CPU contention.
cargo build --release -q -p sse-cli
SSE_HUB_BIN="$(realpath "${CARGO_TARGET_DIR:-target}/release/sse")" SSE_HUB_CPUS=0 \
SSE_HOSTILE_REQUESTS=$SSE_HOSTILE_REQUESTS SSE_HOSTILE_RATE=$SSE_HOSTILE_RATE SSE_HOSTILE_P99_ASSERT=1 \
SSE_HOSTILE_QUIET=1000 \
  taskset -c 1 cargo test -q -p sse-cli --test hostile_clients -- --nocapture --test-threads=1 2>&1 | figures

echo "==> authorization matrix"
cargo test -q -p sse-hub --test auth_matrix -- --nocapture 2>&1 | figures

echo "==> Redis failover without the replica wait (acknowledged updates lost, counted)"
cargo test -q -p sse-cli --test scale_out -- --ignored --nocapture --test-threads=1 sentinel_failover_with 2>&1 | figures

echo "==> fuzzing (${FUZZ_SECONDS:=300}s over every target)"
./scripts/fuzz.sh "$FUZZ_SECONDS"
