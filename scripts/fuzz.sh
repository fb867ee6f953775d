#!/usr/bin/env bash
# Runs every fuzz target with libFuzzer on the stable toolchain: coverage
# instrumentation comes from stable `-C` flags (no sanitizer, which would
# need nightly). The time budget is shared: each target gets SECONDS / N.
# Usage: scripts/fuzz.sh [SECONDS] (default 60).
#
#   decode        the sse-wire decoder vs the reference, any chunking
#   publish_form  the publish-form parser, end to end to decoded events
#   topic_match   the topic matchers and the subscribe-query parser
#
# Prints, per target, the inputs tried and the crashes (files under
# fuzz/artifacts/TARGET/); exits non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
targets=(decode publish_form topic_match)
each=$(( secs / ${#targets[@]} ))
(( each >= 1 )) || each=1
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
target=$(rustc -vV | sed -n "s/^host: //p")
# An explicit --target keeps the instrumentation out of build scripts.
cargo build --release -q --target "$target" $(printf -- '--bin %s ' "${targets[@]}")

# Seeds: the decoder's fixtures; a few forms; a few matchers and queries.
mkdir -p corpus/decode corpus/publish_form corpus/topic_match
cp -n ../crates/sse-wire/tests/data/*.sse corpus/decode/ 2>/dev/null || true
printf 'topic=https%%3A%%2F%%2Fexample.com%%2Fbooks%%2F1&data=a%%0Db%%0D%%0Ac&private=on&id=x&type=t&retry=5' > corpus/publish_form/seed1
printf 'topic=a&topic=b&data=%%E2%%80%%8B&id=%%23f' > corpus/publish_form/seed2
printf '\x01https://example.com/books/:id\x00https://example.com/books/1' > corpus/topic_match/seed1
printf '\x02https://example.com/{a}/{b}\x00https://example.com/x/y' > corpus/topic_match/seed2
printf 'match=*&match_urlpattern=/books/:id&last_event_id=earliest' > corpus/topic_match/seed3
# Every crash found, kept as a seed so each run replays it (and as a test in
# crates/sse-hub/tests/fuzz_regressions.rs).
printf '\x01htt:s://exaa`le.]comple.com//ooks/:id1' > corpus/topic_match/regression-urlpattern-bracket

status=0
for t in "${targets[@]}"; do
  mkdir -p "artifacts/$t"
  log=$(mktemp)
  if ./target/"$target"/release/"$t" "corpus/$t" -artifact_prefix="artifacts/$t/" \
      -max_total_time="$each" -max_len=4096 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=CRASHED
    status=1
    tail -40 "$log"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  echo "FIGURE fuzz $t: ${runs:-0} inputs in ${each}s, $result, crash files in artifacts/$t: $crashes"
  rm -f "$log"
done
exit $status
