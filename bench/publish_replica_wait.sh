#!/usr/bin/env bash
# What the Redis replica wait costs a publish: a real redis-server primary
# and one real replica (redis-server --replicaof), `sse serve --store
# redis://…?replicas=1` (each publish acknowledged once `WAIT` reports the
# replica has it) against the same hub with `replicas=0`, at 1 and 16
# keep-alive connections (wrk POSTing form publishes with a bearer token,
# bench/publish_http.sh's request). The two settings alternate round by
# round, each a freshly started hub on the same Redis, so a machine whose
# load drifts shifts both alike. Prints every run, then per cell the median
# p50/p99 latency and publishes/s, and the ratios wait / no wait.
#
# Cores: the hub on BENCH_SERVER_CORE (default 0); wrk, the primary and the
# replica on BENCH_LOAD_CORE (default 1). On a 2-core machine Redis has no
# core of its own: the figures are for this layout, the ratios are what
# carries over.
#
#   bench/publish_replica_wait.sh        env BENCH_ROUNDS (5), BENCH_SECS (5),
#                                        BENCH_CONNS ("1 16"), SSE_BIN (a built sse)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
command -v redis-server >/dev/null || { apt-get update -q && apt-get install -y -q redis-server; }
server_core=${BENCH_SERVER_CORE:-0}
load_core=${BENCH_LOAD_CORE:-1}
rounds=${BENCH_ROUNDS:-5}
secs=${BENCH_SECS:-5}
conns_list=${BENCH_CONNS:-1 16}
if [ -z "${SSE_BIN:-}" ]; then
  cargo build --release -q -p sse-cli
  SSE_BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release/sse")
fi
work=$(mktemp -d)
pids=()
hub=
cleanup() {
  [ -n "$hub" ] && kill "$hub" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The primary and its replica: no persistence (the wait is about the
# replica, not the disk).
primary=$(free_port); replica=$(free_port)
redis() { # $1 = port, then extra arguments
  local port=$1; shift
  mkdir -p "$work/redis-$port"
  taskset -c "$load_core" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no --loglevel warning --dir "$work/redis-$port" "$@" >"$work/redis-$port/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return; sleep 0.05; done
  echo "redis-server on $port did not start" >&2; exit 1
}
redis "$primary"
redis "$replica" --replicaof 127.0.0.1 "$primary"
for _ in $(seq 200); do
  redis-cli -p "$replica" info replication | grep -q "master_link_status:up" && break; sleep 0.05
done
redis-cli -p "$replica" info replication | grep -q "master_link_status:up" \
  || { echo "the replica never linked to the primary" >&2; exit 1; }

SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
TOKEN=$(SECRET=$SECRET python3 bench/bench_token.py)

port=$(free_port)
echo "# $(date -u +%FT%TZ) $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'): primary :$primary, replica :$replica"
results=$work/results.txt
: >"$results"
for r in $(seq "$rounds"); do
  for conns in $conns_list; do
    for replicas in 1 0; do
      store="redis://127.0.0.1:$primary/0?prefix=bench$r$conns$replicas&replicas=$replicas"
      SSE_PUBLISHER_JWT_KEY=$SECRET SSE_SUBSCRIBER_JWT_KEY=$SECRET SSE_LOG=warn \
        taskset -c "$server_core" "$SSE_BIN" serve --addr "127.0.0.1:$port" --store "$store" \
        --audience bench >"$work/hub.log" 2>&1 &
      hub=$!
      for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
      curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "sse serve did not start:" >&2; cat "$work/hub.log" >&2; exit 1; }
      out=$(SSE_BENCH_TOKEN=$TOKEN taskset -c "$load_core" wrk -t1 -c"$conns" -d"${secs}s" --latency \
              -s bench/publish.lua "http://127.0.0.1:$port/.well-known/mercure" 2>&1)
      kill "$hub"; wait "$hub" 2>/dev/null || true; hub=
      grep -q "non-200" <<<"$out" && { echo "non-200 answers (replicas=$replicas): $out" >&2; exit 1; }
      line="$r $conns $replicas $(awk '/^Requests\/sec/ {print $2}' <<<"$out") \
$(awk '$1 == "50%" {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
      echo "$line" >>"$results"
      echo "round $line" | awk '{printf "round %s: %2s conns, replicas=%s: %9s publishes/s, p50 %s, p99 %s\n", $2, $3, $4, $5, $6, $7}'
    done
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$results" <<'PY'
import statistics, sys
def us(v):
    for unit, f in (("us", 1), ("ms", 1e3), ("s", 1e6)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * f
    raise ValueError(v)
cells = {}
for line in open(sys.argv[1]):
    _, conns, replicas, rate, p50, p99 = line.split()
    cells.setdefault((int(conns), int(replicas)), []).append((float(rate), us(p50), us(p99)))
print()
print("| connections | replica wait | publishes/s | p50 | p99 | p50 wait/no wait | p99 wait/no wait |")
print("|---:|---|---:|---:|---:|---:|---:|")
for conns in sorted({c for c, _ in cells}):
    med = {r: [statistics.median(x[i] for x in cells[(conns, r)]) for i in range(3)] for r in (1, 0)}
    for r in (1, 0):
        rate, p50, p99 = med[r]
        ratio = f"{med[1][1] / med[0][1]:.2f}x | {med[1][2] / med[0][2]:.2f}x" if r == 1 else "– | –"
        print(f"| {conns} | {'replicas=1' if r else 'replicas=0'} | {rate:,.0f} | {p50 / 1e3:.3f} ms "
              f"| {p99 / 1e3:.3f} ms | {ratio} |")
PY
