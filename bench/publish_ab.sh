#!/usr/bin/env bash
# A/B of the hub's CPU per publish: two `sse` binaries, alternating round by
# round, each freshly started on core 0 under the load of compare.sh's
# `publish` scenario (wrk on core 1, 64 connections, 1,000 topics). CPU
# time from /proc: fair on a shared machine, unlike publishes/s.
#
#   bench/publish_ab.sh BIN_A BIN_B [memory|sqlite]     env ROUNDS (5), SECS (4)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_A=${1:?binary A}; BIN_B=${2:?binary B}; store=${3:-memory}
rounds=${ROUNDS:-5}; secs=${SECS:-4}
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
sed -n "/^cat >\"\$PUB_LUA\" <<'LUA'/,/^LUA/p" bench/compare.sh | sed '1d;$d' >"$work/publish.lua"
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
TOKEN=$(SECRET=$SECRET python3 bench/bench_token.py)
export SSE_BENCH_TOKEN=$TOKEN PUB_PEER=hub
hz=$(getconf CLK_TCK)
ticks() { sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'; }
for r in $(seq "$rounds"); do
  for v in A B; do
    bin=BIN_$v; bin=${!bin}
    rm -rf "$work/run" && mkdir "$work/run"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    url=memory://; [ "$store" = sqlite ] && url="sqlite://$work/run/hub.sqlite3"
    SSE_PUBLISHER_JWT_KEY=$SECRET SSE_SUBSCRIBER_JWT_KEY=$SECRET RUST_LOG=warn taskset -c 0 "$bin" serve \
      --addr "127.0.0.1:$port" --store "$url" --audience bench --allow-anonymous >"$work/run/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    t0=$(ticks)
    PUB_OUT=$work/run/w.json taskset -c 1 wrk -t1 -c64 -d"${secs}s" -s "$work/publish.lua" \
      "http://127.0.0.1:$port" >"$work/run/wrk.txt" 2>&1
    t1=$(ticks)
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    python3 - "$work/run/w.json" "$((t1 - t0))" "$hz" "$v" "$r" <<'PY'
import json, sys
w = json.load(open(sys.argv[1])); cpu = int(sys.argv[2]) / int(sys.argv[3])
print(f"{sys.argv[4]} round {sys.argv[5]}: {w['requests'] / (w['duration_us'] / 1e6):,.0f} publishes/s, "
      f"{cpu * 1e6 / w['requests']:.1f} µs CPU per publish, {w['non_2xx_3xx'] + w['socket_errors']} errors")
PY
  done
done
