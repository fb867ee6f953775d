#!/usr/bin/env bash
# Side by side (issue 7): the same scenarios against
#   hub-memory  `sse serve --store memory://`
#   hub-sqlite  `sse serve --store sqlite://…` (durable before the 200)
#   nchan       nginx + nchan (Debian packages, bench/nchan.conf.in)
#   axum        axum's own `Sse` over `tokio::sync::broadcast`
#               (crates/sse-bench/examples/axum_broadcast.rs)
# each server freshly started for every run, pinned to core 0, the load
# (`sse bench`) pinned to core 1. Raw JSON per run goes under the results
# directory; bench/render.py turns them into the markdown table that
# replaces the part of BENCHMARKS.md between the compare markers.
#
#   bench/compare.sh                 full run (~10 min plus the build), rewrites
#                                    the compare section of BENCHMARKS.md
#   bench/compare.sh --quick         every scenario at tiny sizes (~2 min); prints
#                                    the table, leaves BENCHMARKS.md alone
#   options: --peers hub-memory,nchan   --scenarios idle,broadcast,latency,topics,churn,slow,publish
#            --results DIR (default target/compare/<time>)   --write | --no-write
#   env SSE_SERVE_BIN=PATH: run that `sse` binary as the hub (A/B of a change)
#
# Run as root, servers and load get `nice -n -20`; it needs 2 cores, and
# installs nginx and libnginx-mod-nchan with apt-get when they are missing.
#
# Scenarios: 1 idle hold (10,000 and 19,000 subscribers, RSS per subscriber);
# 2 broadcast to 1 topic, 1k and 10k subscribers, publish rate doubled until
# a step loses events or slips; 2b latency: 10k subscribers × 10 updates/s,
# latency and CPU per delivery; 3 10,000 subscribers on 1,000 topics at
# 1,000 updates/s; 4 churn; 5 slow consumers (10% stop reading, then resume;
# run with and without them); 6 publish: publishes/s through HTTP with 64
# keep-alive connections (wrk, round robin over 1,000 topics, no
# subscribers), the hub's form publish with a bearer token against nchan's
# publish endpoint (axum has none and is skipped). Sizes and durations are
# set just below.
#
# Every run also records how busy core 0 was with anything but the server
# (other processes on a shared machine): the table flags runs where that
# exceeded 5%, since their latency and CPU figures are then not the
# server's alone.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CMDLINE="bench/compare.sh${*:+ $*}"
QUICK=0
WRITE=
PEERS="hub-memory hub-sqlite nchan axum"
SCENARIOS="idle broadcast latency topics churn slow publish"
RESULTS=

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --write) WRITE=1 ;;
    --no-write) WRITE=0 ;;
    --peers) PEERS=${2//,/ }; shift ;;
    --scenarios) SCENARIOS=${2//,/ }; shift ;;
    --results) RESULTS=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done
for scenario in $SCENARIOS; do
  case $scenario in
    idle | broadcast | latency | topics | churn | slow | publish) ;;
    *) echo "compare.sh: unknown scenario $scenario (see --help)" >&2; exit 64 ;;
  esac
done
for peer in $PEERS; do
  case $peer in
    hub-memory | hub-sqlite | nchan | axum) ;;
    *) echo "compare.sh: unknown peer $peer (see --help)" >&2; exit 64 ;;
  esac
done
# A quick run is a smoke test: its figures are not worth a table in the
# repository unless asked for.
[ -n "$WRITE" ] || WRITE=$((1 - QUICK))

if ((QUICK)); then
  IDLE_SIZES="300"; HOLD=1
  BC_SIZES="100 500"; BC_STEPS=2; BC_SECS=1
  LAT_N=500; LAT_RATE=10; LAT_SECS=2
  TOP_N=300; TOP_TOPICS=30; TOP_RATE=100; TOP_SECS=2
  CH_N=200; CH_TOPICS=10; CH_RATE=50; CH_CHURN=20; CH_SECS=2
  SL_N=200; SL_RATE=20; SL_SECS=2; SL_PAYLOAD=1024
  PUB_CONNS=64; PUB_SECS=2; PUB_ROUNDS=1
  DRAIN=2
else
  IDLE_SIZES="10000 19000"; HOLD=2
  BC_SIZES="1000 10000"; BC_STEPS=6; BC_SECS=4
  LAT_N=10000; LAT_RATE=10; LAT_SECS=10
  TOP_N=10000; TOP_TOPICS=1000; TOP_RATE=1000; TOP_SECS=10
  CH_N=5000; CH_TOPICS=100; CH_RATE=100; CH_CHURN=250; CH_SECS=10
  # 4 MB per slow subscriber over the window: more than the kernel's send
  # buffer (tcp_wmem max 4 MiB, about half of it payload) can absorb, so the
  # server itself has to hold, drop or cut.
  SL_N=500; SL_RATE=200; SL_SECS=10; SL_PAYLOAD=2048
  # Publishing: the median of three 10-second rounds per peer.
  PUB_CONNS=64; PUB_SECS=10; PUB_ROUNDS=3
  DRAIN=3
fi
# First sweep step, in deliveries per second offered (subscribers × rate);
# each further step doubles it.
BC_START=50000
((QUICK == 0)) || BC_START=5000
# Servers and load at the highest priority when allowed (as bench/wire.sh
# does): on a machine shared with other work (compilers, say) that work
# then takes little from core 0 or 1. Every peer gets the same.
PRIO=()
[ "$(id -u)" -eq 0 ] && PRIO=(nice -n -20)

log() { printf '[compare %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- what the run needs -----------------------------------------------------
need_pkgs=()
command -v nginx >/dev/null || need_pkgs+=(nginx)
[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || need_pkgs+=(libnginx-mod-nchan)
[ "$SCENARIOS" = "${SCENARIOS/publish/}" ] || command -v wrk >/dev/null || need_pkgs+=(wrk)
for tool in taskset python3 curl; do
  command -v "$tool" >/dev/null || need_pkgs+=("$([ "$tool" = taskset ] && echo util-linux || echo "$tool")")
done
if ((${#need_pkgs[@]})); then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "installing ${need_pkgs[*]}"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
fi
if [ "$(nproc)" -lt 2 ]; then
  echo "compare.sh: needs 2 cores (server on core 0, load on core 1)" >&2
  exit 1
fi

cd "$ROOT"
# The binaries: built where cargo builds (./target on a clean checkout,
# $CARGO_TARGET_DIR when set).
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
log "building (release) into $TARGET_DIR"
cargo build --release -q -p sse-cli
cargo build --release -q -p sse-bench --example axum_broadcast
SSE=$TARGET_DIR/release/sse
# A/B of a change: SSE_SERVE_BIN=/path/to/an/older/sse runs that binary as
# the hub peers (the load generator stays this build's `sse bench`).
HUB_BIN=${SSE_SERVE_BIN:-$SSE}
AXUM=$TARGET_DIR/release/examples/axum_broadcast

if [ -z "$RESULTS" ]; then
  RESULTS=$ROOT/target/compare/$(date -u +%Y%m%dT%H%M%SZ)
  ((QUICK == 0)) || RESULTS+=-quick
fi
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
MANIFEST=$RESULTS/manifest.jsonl
: >"$MANIFEST"
log "results in $RESULTS"

# --- servers ------------------------------------------------------------------
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# A publisher token for the hub (HS256, the claims sse-hub's minting writes),
# valid for a day, audience "bench" (the hub is started with --audience bench).
SSE_BENCH_TOKEN=$(SECRET=$SECRET python3 "$ROOT/bench/bench_token.py")
export SSE_BENCH_TOKEN

SERVER_PID=
MEASURE_PIDS=
SERVER_DIR=
# Every run gets a port of its own: the previous run's sockets may still be
# in TIME_WAIT, and 19,000 of them would exhaust one port pair's range.
# Below the ephemeral range (32768 up on Linux), which the subscribers'
# own source ports come from.
NEXT_PORT=$((20000 + RANDOM % 10000))

# Sets PORT to the next port nothing is bound to.
next_port() {
  while :; do
    PORT=$NEXT_PORT
    NEXT_PORT=$((NEXT_PORT + 1))
    python3 -c 'import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))' "$PORT" 2>/dev/null && return 0
  done
}

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  MEASURE_PIDS=
  if [ -n "$SERVER_DIR" ]; then
    # nginx's own log says why it refused or closed connections.
    if [ -f "$SERVER_DIR/error.log" ] && [ -n "${RUN_NAME:-}" ]; then
      cp "$SERVER_DIR/error.log" "$RESULTS/$RUN_NAME.nginx-error.log"
    fi
    rm -rf "$SERVER_DIR"
  fi
  SERVER_DIR=
}
trap stop_server EXIT
trap 'exit 130' INT TERM

wait_port() {
  local port=$1
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# start_server PEER PORT LOG: starts PEER pinned to core 0; sets SERVER_PID
# (the process to stop) and MEASURE_PIDS (whose CPU and RSS are summed).
start_server() {
  local peer=$1 port=$2 logf=$3
  SERVER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/compare.XXXXXX")
  case $peer in
    hub-memory | hub-sqlite)
      local store=memory://
      [ "$peer" = hub-sqlite ] && store="sqlite://$SERVER_DIR/hub.sqlite3"
      SSE_PUBLISHER_JWT_KEY=$SECRET SSE_SUBSCRIBER_JWT_KEY=$SECRET RUST_LOG=warn \
        "${PRIO[@]}" taskset -c 0 "$HUB_BIN" serve --addr "127.0.0.1:$port" --store "$store" \
        --audience bench --allow-anonymous --max-connections 20000 >"$logf" 2>&1 &
      SERVER_PID=$!
      MEASURE_PIDS=$SERVER_PID
      ;;
    nchan)
      mkdir -p "$SERVER_DIR/tmp"
      chmod 1777 "$SERVER_DIR/tmp"
      sed "s/@PORT@/$port/" "$ROOT/bench/nchan.conf.in" >"$SERVER_DIR/nginx.conf"
      "${PRIO[@]}" taskset -c 0 nginx -p "$SERVER_DIR" -c "$SERVER_DIR/nginx.conf" -e "$SERVER_DIR/error.log" >"$logf" 2>&1 &
      SERVER_PID=$!
      ;;
    axum)
      "${PRIO[@]}" taskset -c 0 "$AXUM" "127.0.0.1:$port" >"$logf" 2>&1 &
      SERVER_PID=$!
      MEASURE_PIDS=$SERVER_PID
      ;;
    *) echo "compare.sh: unknown peer $peer" >&2; exit 64 ;;
  esac
  if ! wait_port "$port"; then
    log "$peer did not start; its log:"
    cat "$logf" >&2
    [ -f "$SERVER_DIR/error.log" ] && cat "$SERVER_DIR/error.log" >&2
    exit 1
  fi
  if [ "$peer" = nchan ]; then
    # The master and its one worker (which holds the connections). The
    # master listens before it forks, so the worker may take a moment.
    local worker=
    for _ in $(seq 50); do
      worker=$(pgrep -P "$SERVER_PID" | paste -sd, -) || true
      [ -n "$worker" ] && break
      sleep 0.1
    done
    if [ -z "$worker" ]; then
      log "nginx started no worker; its log:"
      cat "$SERVER_DIR/error.log" >&2 || true
      exit 1
    fi
    MEASURE_PIDS=$SERVER_PID,$worker
  fi
  # Let start-up allocations settle before the baseline RSS is read.
  sleep 0.5
}

# Core 0's busy time in clock ticks (everything but idle and iowait). The
# server's own softirq work (its loopback traffic) is in its process CPU
# time here, so busy minus the server's time is what everything else took.
core0_busy() {
  awk '$1 == "cpu0" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# CPU time of the comma-separated pids, in clock ticks.
pids_ticks() {
  local total=0 p
  for p in ${1//,/ }; do
    # Fields after the command (which may hold spaces): utime is 14, stime 15.
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
  done
  echo "$total"
}

target_args() {
  local peer=$1 port=$2
  case $peer in
    hub-*) echo "--target mercure --url http://127.0.0.1:$port" ;;
    nchan) echo "--target nchan --url http://127.0.0.1:$port" ;;
    axum) echo "--subscribe-url http://127.0.0.1:$port/sub?topic={topic} --publish-url http://127.0.0.1:$port/pub?topic={topic}" ;;
  esac
}

# run NAME PEER SCENARIO 'PARAMS-JSON' BENCH-ARGS...: one fresh server, one
# `sse bench`; the summary goes to NAME.json and a line to the manifest.
# Sets RUN_JSON.
run() {
  local name=$1 peer=$2 scenario=$3 params=$4
  shift 4
  next_port
  local port=$PORT
  start_server "$peer" "$port" "$RESULTS/$name.server.log"
  RUN_JSON=$RESULTS/$name.json
  RUN_NAME=$name
  local rc=0 busy0 srv0 t0 busy1 srv1 t1
  busy0=$(core0_busy) srv0=$(pids_ticks "$MEASURE_PIDS") t0=$(date +%s%N)
  # shellcheck disable=SC2046 # target_args is a list of words without spaces
  "${PRIO[@]}" taskset -c 1 "$SSE" bench $(target_args "$peer" "$port") --server-pid "$MEASURE_PIDS" \
    --json "$@" >"$RUN_JSON" 2>"$RESULTS/$name.stderr" || rc=$?
  busy1=$(core0_busy) srv1=$(pids_ticks "$MEASURE_PIDS") t1=$(date +%s%N)
  stop_server
  # Share of core 0's time spent on anything but the server during the run.
  local noise
  noise=$(awk -v b="$((busy1 - busy0))" -v s="$((srv1 - srv0))" -v ns="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { v = (b - s) / hz / (ns / 1e9) * 100; if (v < 0) v = 0; printf "%.1f", v }')
  # Exit status 2 is a completed run with loss or errors: data, not failure.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    log "$name: sse bench failed (status $rc):"
    tail -5 "$RESULTS/$name.stderr" >&2
  fi
  printf '{"name":"%s","peer":"%s","scenario":"%s","rc":%d,"core0_other_pct":%s,"params":%s}\n' \
    "$name" "$peer" "$scenario" "$rc" "$noise" "$params" >>"$MANIFEST"
  log "$name: $(python3 "$ROOT/bench/render.py" brief "$RUN_JSON" 2>/dev/null || echo 'no summary'); core 0 other work ${noise}%"
}

COMMON=(--connect-rate 8000 --drain-timeout "$DRAIN" --publish-concurrency 32)

# --- scenarios --------------------------------------------------------------------
scenario_idle() {
  local peer=$1 n
  for n in $IDLE_SIZES; do
    run "idle-$peer-$n" "$peer" idle "{\"n\":$n}" -n "$n" --hold "$HOLD" "${COMMON[@]}"
  done
}

scenario_broadcast() {
  local peer=$1 n step offered rate
  for n in $BC_SIZES; do
    offered=$BC_START
    for ((step = 0; step < BC_STEPS; step++)); do
      rate=$((offered / n))
      run "bc-$peer-$n-$rate" "$peer" broadcast "{\"n\":$n,\"rate\":$rate}" \
        -n "$n" --rate "$rate" --duration "$BC_SECS" "${COMMON[@]}"
      # Stop at the first step that loses, slips or falls behind.
      python3 "$ROOT/bench/render.py" keeps-up "$RUN_JSON" || break
      offered=$((offered * 2))
    done
  done
}

scenario_latency() {
  local peer=$1
  run "lat-$peer" "$peer" latency "{\"n\":$LAT_N,\"rate\":$LAT_RATE}" \
    -n "$LAT_N" --rate "$LAT_RATE" --duration "$LAT_SECS" "${COMMON[@]}"
}

scenario_topics() {
  local peer=$1
  run "topics-$peer" "$peer" topics "{\"n\":$TOP_N,\"topics\":$TOP_TOPICS,\"rate\":$TOP_RATE}" \
    -n "$TOP_N" --topics "$TOP_TOPICS" --rate "$TOP_RATE" --duration "$TOP_SECS" "${COMMON[@]}"
}

scenario_churn() {
  local peer=$1
  run "churn-$peer" "$peer" churn "{\"n\":$CH_N,\"topics\":$CH_TOPICS,\"rate\":$CH_RATE,\"churn\":$CH_CHURN}" \
    -n "$CH_N" --topics "$CH_TOPICS" --rate "$CH_RATE" --churn "$CH_CHURN" --duration "$CH_SECS" "${COMMON[@]}"
}

scenario_slow() {
  local peer=$1 f
  for f in 0 0.1; do
    run "slow-$peer-$f" "$peer" slow "{\"n\":$SL_N,\"rate\":$SL_RATE,\"slow\":$f,\"payload\":$SL_PAYLOAD}" \
      -n "$SL_N" --rate "$SL_RATE" --duration "$SL_SECS" --payload "$SL_PAYLOAD" \
      --slow-fraction "$f" --slow-resume "${COMMON[@]}"
  done
}

# wrk's script for the publish scenario: 1,000 requests formatted once (a
# topic each), then sent round robin, so the load generator spends no Lua
# per request and both peers get the same 100-byte payload. `done` writes
# the figures as JSON to the file PUB_OUT names.
PUB_LUA=$RESULTS/publish.lua
cat >"$PUB_LUA" <<'LUA'
local peer = os.getenv("PUB_PEER")
local reqs, i = {}, 0
init = function()
  local data = string.rep("x", 100)
  for t = 1, 1000 do
    if peer == "nchan" then
      reqs[t] = wrk.format("POST", "/pub?id=t" .. t, { ["Content-Type"] = "text/plain" }, data)
    else
      reqs[t] = wrk.format("POST", "/.well-known/mercure", {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Authorization"] = "Bearer " .. os.getenv("SSE_BENCH_TOKEN"),
      }, "topic=https%3A%2F%2Fexample.com%2Ft%2F" .. t .. "&data=" .. data)
    end
  end
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
done = function(summary, latency, _)
  local e = summary.errors
  local f = assert(io.open(os.getenv("PUB_OUT"), "w"))
  f:write(string.format(
    '{"requests":%d,"duration_us":%d,"non_2xx_3xx":%d,"socket_errors":%d,' ..
    '"latency_us":{"p50":%d,"p99":%d,"max":%d}}',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
  f:close()
end
LUA

# run_publish NAME PEER 'PARAMS-JSON': one fresh server, one wrk run on core
# 1; the server's CPU ticks and wrk's own CPU go into NAME.json beside
# wrk's figures.
run_publish() {
  local name=$1 peer=$2 params=$3
  next_port
  local port=$PORT
  start_server "$peer" "$port" "$RESULTS/$name.server.log"
  RUN_JSON=$RESULTS/$name.json
  RUN_NAME=$name
  local rc=0 busy0 srv0 t0 busy1 srv1 t1 load_s
  busy0=$(core0_busy) srv0=$(pids_ticks "$MEASURE_PIDS") t0=$(date +%s%N)
  # bash's `time` gives wrk's own CPU: near 100% of core 1 means the load
  # generator, not the server, set the pace.
  load_s=$( { TIMEFORMAT='%U %S'; time PUB_PEER=$peer PUB_OUT=$RESULTS/$name.wrk.json \
    "${PRIO[@]}" taskset -c 1 wrk -t1 -c"$PUB_CONNS" -d"${PUB_SECS}s" -s "$PUB_LUA" \
    "http://127.0.0.1:$port" >"$RESULTS/$name.stderr" 2>&1; } 2>&1) || rc=$?
  busy1=$(core0_busy) srv1=$(pids_ticks "$MEASURE_PIDS") t1=$(date +%s%N)
  stop_server
  local noise
  noise=$(awk -v b="$((busy1 - busy0))" -v s="$((srv1 - srv0))" -v ns="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { v = (b - s) / hz / (ns / 1e9) * 100; if (v < 0) v = 0; printf "%.1f", v }')
  [ "$rc" -eq 0 ] || { log "$name: wrk failed (status $rc):"; tail -5 "$RESULTS/$name.stderr" >&2; }
  python3 - "$RESULTS/$name.wrk.json" "$((srv1 - srv0))" "$(getconf CLK_TCK)" "$((t1 - t0))" "$load_s" >"$RUN_JSON" <<'PY' || true
import json, sys
w = json.load(open(sys.argv[1]))
ticks, hz, ns = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
user, system = (float(x) for x in sys.argv[5].split())
secs = w["duration_us"] / 1e6
cpu_s = ticks / hz
print(json.dumps({"publish_http": dict(w,
    publishes_per_second=w["requests"] / secs if secs else None,
    load_core_pct=(user + system) / secs * 100 if secs else None),
  "server": {"cpu_us_per_publish": cpu_s * 1e6 / w["requests"] if w["requests"] else None,
             "core_pct": cpu_s / (ns / 1e9) * 100}}))
PY
  printf '{"name":"%s","peer":"%s","scenario":"%s","rc":%d,"core0_other_pct":%s,"params":%s}\n' \
    "$name" "$peer" publish "$rc" "$noise" "$params" >>"$MANIFEST"
  log "$name: $(python3 "$ROOT/bench/render.py" brief "$RUN_JSON" 2>/dev/null || echo 'no summary'); core 0 other work ${noise}%"
}

scenario_publish() {
  local peer=$1 round
  if [ "$peer" = axum ]; then
    log "publish: axum has no publish endpoint of its own; skipped"
    return 0
  fi
  for ((round = 1; round <= PUB_ROUNDS; round++)); do
    run_publish "pub-$peer-$round" "$peer" "{\"conns\":$PUB_CONNS,\"round\":$round}"
  done
}

STARTED_AT=$(date -u +%s)
for scenario in $SCENARIOS; do
  for peer in $PEERS; do
    log "scenario $scenario, peer $peer"
    "scenario_$scenario" "$peer"
  done
done
ELAPSED=$(($(date -u +%s) - STARTED_AT))
log "all runs done in ${ELAPSED}s"

# --- the table ------------------------------------------------------------------
{
  echo "command=$CMDLINE"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc=$(nproc)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "kernel=$(uname -r)"
  echo "mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "rustc=$(rustc --version)"
  echo "nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //'), nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo '?')"
  echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)')"
  echo "elapsed=$ELAPSED"
  echo "quick=$QUICK"
} >"$RESULTS/machine.txt"
python3 "$ROOT/bench/render.py" table "$RESULTS" >"$RESULTS/table.md"
if ((WRITE)); then
  python3 "$ROOT/bench/render.py" splice "$RESULTS/table.md" "$ROOT/BENCHMARKS.md"
  log "BENCHMARKS.md updated"
fi
cat "$RESULTS/table.md"
