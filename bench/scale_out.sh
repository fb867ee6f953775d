#!/usr/bin/env bash
# Scale-out (issue 6): NODES `sse serve` nodes on one Redis holding
# NODES x PER_NODE subscribers (one process holds at most ~19.9k sockets
# here, so the nodes are also how this machine holds more), one update per
# second to all of them; then, in the same run, one node on SQLite holding
# PER_NODE. `sse bench` spreads its workers over the nodes (one
# --subscribe-url per node) and publishes to the first node, so every
# update crosses Redis to reach the others.
#
#   bench/scale_out.sh            NODES=5 PER_NODE=19000 SECS=30 by default
#
# Prints one JSON summary per run under the results directory and a
# markdown table: deliveries/s, publish-to-receive percentiles, the nodes'
# CPU per delivery and RSS per subscriber, and Redis's CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-5}
PER_NODE=${PER_NODE:-19000}
SECS=${SECS:-30}
RATE=${RATE:-1}
command -v redis-server >/dev/null || { apt-get update -q && apt-get install -y -q redis-server; }
cargo build --release -q -p sse-cli
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/sse")
results=${RESULTS:-target/scale_out/$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$results"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
SECRET=scale-out-bench-secret-of-32-bytes-or-more
export SSE_PUBLISHER_JWT_KEY=$SECRET SSE_SUBSCRIBER_JWT_KEY=$SECRET SSE_LOG=warn
token=$(python3 - "$SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"exp": int(time.time()) + 3600, "aud": "bench-hub",
                       "mercure": {"publish": ["*"]}}).encode())
sig = hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b64(sig)}")
PY
)

start_node() { # $1 = store URL, $2 = port; appends the pid to $pids
  mkdir -p "$work/node-$2"
  (cd "$work/node-$2" && exec "$bin" serve --store "$1" --addr "127.0.0.1:$2" --audience bench-hub \
     --allow-anonymous --legacy --max-connections 19800 >/dev/null 2>"$work/node-$2.err") &
  pids+=($!)
  for _ in $(seq 200); do curl -fs "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "node on port $2 did not start:" >&2; cat "$work/node-$2.err" >&2; exit 1
}

run_bench() { # $1 = name, $2 = subscribers, $3 = node pids (comma-separated), rest = --subscribe-url args
  local name=$1 n=$2 server_pids=$3; shift 3
  "$bin" bench --target mercure --url "http://127.0.0.1:${ports[0]}" --token "$token" "$@" \
    -n "$n" --workers "$(( (n + 9499) / 9500 ))" --rate "$RATE" --duration "$SECS" \
    --connect-rate 5000 --server-pid "$server_pids" --json >"$results/$name.json" 2>"$results/$name.err"
}

# --- NODES nodes on Redis -------------------------------------------------
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
  --dir "$work" --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
ports=(); node_pids=(); sub_urls=()
for i in $(seq "$NODES"); do
  p=$(free_port); ports+=("$p")
  start_node "redis://127.0.0.1:$redis_port" "$p"
  node_pids+=("${pids[-1]}")
  sub_urls+=(--subscribe-url "http://127.0.0.1:$p/.well-known/mercure?topic={topic}")
done
redis_before=$(cpu_ticks "$redis_pid")
run_bench redis "$((NODES * PER_NODE))" "$(IFS=,; echo "${node_pids[*]}")" "${sub_urls[@]}"
redis_after=$(cpu_ticks "$redis_pid")
for p in "${node_pids[@]}"; do kill "$p"; done
echo "$(( redis_after - redis_before ))" >"$results/redis_cpu_ticks"

# --- one node on SQLite ------------------------------------------------------
ports=("$(free_port)")
start_node "sqlite://./hub.sqlite3" "${ports[0]}"
run_bench sqlite "$PER_NODE" "${pids[-1]}" \
  --subscribe-url "http://127.0.0.1:${ports[0]}/.well-known/mercure?topic={topic}"

python3 - "$results" "$NODES" "$(getconf CLK_TCK)" <<'PY'
import json, sys
res, nodes, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
redis_cpu = int(open(f"{res}/redis_cpu_ticks").read()) / tck
print("| setup | subscribers | deliveries/s | p50 | p99 | p99.9 | lost / dup | node CPU per delivery | node RSS per subscriber | Redis CPU |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, label in (("redis", f"{nodes} nodes on Redis"), ("sqlite", "1 node on SQLite")):
    j = json.load(open(f"{res}/{name}.json"))
    d, l, s = j["delivery"], j["latency_us"], j.get("server") or {}
    ms = lambda us: f"{us / 1000:.1f} ms"
    cpu = s.get("cpu_us_per_delivery") or 0.0
    rss = (s.get("rss_per_subscriber_bytes") or 0.0) / 1000
    print(f"| {label} | {j['connect']['connected']:,} | {d.get('deliveries_per_second', 0):,.0f} | {ms(l['p50'])} | {ms(l['p99'])} | {ms(l['p999'])} | "
          f"{d['lost']} / {d['duplicated']} | {cpu:.2f} µs | {rss:.2f} KB | "
          + (f"{redis_cpu:.2f} s over the run |" if name == "redis" else "– |"))
PY
