#!/usr/bin/env bash
# Acknowledged publishes per second through HTTP: `sse serve` pinned to one
# core (BENCH_SERVER_CORE, default 0), wrk on the other (BENCH_LOAD_CORE,
# default 1) POSTing form publishes with a bearer token over 1, 16 and 64
# keep-alive connections. SQLite (durable before the 200, group commit)
# and the memory store side by side in one run; each cell is the median of
# BENCH_ROUNDS (default 3) rounds of BENCH_SECS (default 5) seconds.
#
#   bench/publish_http.sh     prints a markdown table
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
server_core=${BENCH_SERVER_CORE:-0}
load_core=${BENCH_LOAD_CORE:-1}
rounds=${BENCH_ROUNDS:-3}
secs=${BENCH_SECS:-5}
cargo build --release -q -p sse-cli
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/sse")
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

start() { # $1 = store URL; sets $token to the first run's publisher token
  rm -rf "$work/run" && mkdir -p "$work/run"
  (cd "$work/run" && exec taskset -c "$server_core" "$bin" serve --addr "127.0.0.1:$port" --store "$1" \
     >"$work/out" 2>"$work/err") &
  pid=$!
  for _ in $(seq 200); do grep -q "publisher token:" "$work/out" 2>/dev/null && break; sleep 0.05; done
  token=$(sed -n 's/^ *publisher token: //p' "$work/out")
  [ -n "$token" ] || { echo "sse serve did not start:" >&2; cat "$work/err" >&2; exit 1; }
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

echo "| store | connections | publishes/s (median) | min – max | p99 latency |"
echo "|---|---:|---:|---:|---:|"
for conns in 1 16 64; do
  for store in "sqlite://./hub.sqlite3" "memory://"; do
    rates=(); p99s=()
    for _ in $(seq "$rounds"); do
      start "$store"
      out=$(SSE_BENCH_TOKEN=$token taskset -c "$load_core" wrk -t1 -c"$conns" -d"${secs}s" --latency \
              -s bench/publish.lua "http://127.0.0.1:$port/.well-known/mercure" 2>&1)
      stop
      grep -q "non-200" <<<"$out" && { echo "non-200 answers with $store: $out" >&2; exit 1; }
      rates+=("$(awk '/^Requests\/sec/ {print $2}' <<<"$out")")
      p99s+=("$(awk '$1 == "99%" {print $2}' <<<"$out")")
    done
    python3 - "$store" "$conns" "${rates[@]}" -- "${p99s[@]}" <<'PY'
import sys, statistics
store, conns, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
cut = rest.index("--")
rates = [float(r) for r in rest[:cut]]
p99 = rest[cut + 1:]
name = "SQLite" if store.startswith("sqlite") else "memory"
med = statistics.median(rates)
print(f"| {name} | {conns} | {med:,.0f} | {min(rates):,.0f} – {max(rates):,.0f} | {sorted(p99)[len(p99)//2]} |")
PY
  done
done
