#!/usr/bin/env bash
# Runs the decoder fuzz target with libFuzzer on the stable toolchain:
# coverage instrumentation comes from stable `-C` flags (no sanitizer, which
# would need nightly). Usage: scripts/fuzz.sh [SECONDS] (default 60).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
target=$(rustc -vV | sed -n "s/^host: //p")
# An explicit --target keeps the instrumentation out of build scripts.
cargo build --release --bin decode -q --target "$target"
mkdir -p corpus/decode artifacts/decode
# Seed the corpus with the fixtures.
cp -n ../crates/sse-wire/tests/data/*.sse corpus/decode/ 2>/dev/null || true
./target/"$target"/release/decode corpus/decode -artifact_prefix=artifacts/decode/ \
  -max_total_time="$secs" -max_len=4096 -print_final_stats=1 2>&1 | tail -25
