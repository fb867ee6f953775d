#!/usr/bin/env bash
# Decoder throughput table for BENCHMARKS.md: runs the criterion bench
# (sse-wire vs sse-stream 0.3 vs eventsource-stream 0.2 vs a memchr floor,
# same inputs, one run), pinned to one core at high priority, then prints a
# markdown table from criterion's median estimates.
#
#   bench/wire.sh            run both parts below
#   bench/wire.sh --table    print the table from the last criterion run only
#   bench/wire.sh --decode   only the `sse decode --count` timing
#
# Then times `sse decode --count` on a 1 GB capture (made once under
# ${TMPDIR:-/tmp}): the whole binary, file read included.
set -euo pipefail
cd "$(dirname "$0")/.."
core=${BENCH_CORE:-1}
mode=${1:-all}
prio=()
[ "$(id -u)" -eq 0 ] && prio=(nice -n -20)
if [ "$mode" = all ]; then
  cargo bench -p sse-wire --bench decode --no-run -q
  "${prio[@]}" taskset -c "$core" cargo bench -p sse-wire --bench decode -q >/dev/null 2>&1
fi
[ "$mode" != --decode ] && python3 - <<'PY'
import json, os
root = "target/criterion"
# name: (events, bytes per event)
inputs = {
    "small": (1_000_000, len(b"data: hello\n\n")),
    "crlf": (1_000_000, len(b"data: hello\r\n\r\n")),
    "1KiB": (16 * 1024, 6 + 1024 + 2),
    "64KiB": (256, 6 + 64 * 1024 + 2),
    "bytewise": (100_000, len(b"data: hello\n\n")),
}
peers = ["sse-wire", "sse-stream", "eventsource-stream", "floor"]
def median_s(group, peer):
    p = os.path.join(root, f"decode_{group}", peer, "new", "estimates.json")
    if not os.path.exists(p):
        return None
    return json.load(open(p))["median"]["point_estimate"] / 1e9
print("| input | decoder | ns/event | events/s | MB/s | sse-wire speed-up |")
print("|---|---|---:|---:|---:|---:|")
for name, (events, size) in inputs.items():
    ours = median_s(name, "sse-wire")
    for peer in peers:
        t = median_s(name, peer)
        if t is None:
            continue
        ratio = "—" if peer == "sse-wire" else f"{t / ours:.2f}x" if peer != "floor" else f"floor is {ours / t:.2f}x faster"
        print(f"| {name} | {peer} | {t / events * 1e9:,.1f} | {events / t / 1e6:,.2f} M | {events * size / t / 1e6:,.0f} | {ratio} |")
PY

if [ "$mode" != --table ]; then
  cargo build --release -q -p sse-cli
  capture=${TMPDIR:-/tmp}/sse-bench-1g.sse
  if [ ! -s "$capture" ]; then
    # 1 GiB of mixed events: ids, types, one- and three-line data.
    python3 - "$capture" <<'PY'
import sys
block = b"".join(
    b"id: %d\nevent: tick\ndata: {\"n\":%d,\"pad\":\"%s\"}\n\n" % (i, i, b"x" * (i % 200))
    + b"data: line one\ndata: line two\ndata: line three\n\n" for i in range(4096))
with open(sys.argv[1], "wb") as f:
    for _ in range((1 << 30) // len(block)):
        f.write(block)
PY
  fi
  cat "$capture" >/dev/null # warm the page cache
  bytes=$(stat -c %s "$capture")
  start=$(date +%s.%N)
  out=$("${prio[@]}" taskset -c "$core" ./target/release/sse decode --count "$capture")
  end=$(date +%s.%N)
  python3 -c "
import json,sys
o=json.loads('$out'); s=$end-$start
print(f'\n\`sse decode --count\` on {$bytes/2**30:.2f} GiB: {o[\"events\"]:,} events in {s:.2f} s = {$bytes/s/1e9:.2f} GB/s, {o[\"events\"]/s/1e6:.2f} M events/s')
"
fi
