#!/usr/bin/env bash
# Where the time of one publish goes (issue 15): `sse serve` pinned to core
# 0 under the publish load of `bench/compare.sh --scenarios publish` (wrk on
# core 1, 64 connections, 100-byte publishes round robin over 1,000
# topics), `perf record` on the server for BENCH_SECS (default 8) seconds,
# then the samples grouped by what the code does, and the server's CPU per
# publish over the same window.
#
#   bench/profile_publish.sh memory|sqlite [SSE-BINARY] [--call-graph]
#
# The binary defaults to target/profiling/sse (`cargo build --profile
# profiling -p sse-cli`: line tables for perf); the release build works too
# (its symbol names are kept), without inlined frames. The perf data stays
# in target/profile/publish-STORE.data for `perf report -i`.
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:?memory or sqlite}
bin=${2:-target/profiling/sse}
graph=()
[ "${3:-}" = --call-graph ] && graph=(--call-graph dwarf,16384)
secs=${BENCH_SECS:-8}
for tool in perf wrk python3 taskset; do
  command -v "$tool" >/dev/null || { echo "profile_publish.sh: needs $tool" >&2; exit 1; }
done
mkdir -p target/profile
out=$(realpath target/profile)/publish-$store.data
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
SSE_BENCH_TOKEN=$(SECRET=$SECRET python3 bench/bench_token.py)
export SSE_BENCH_TOKEN PUB_PEER=hub PUB_OUT=$work/wrk.json
# The same wrk script as compare.sh's publish scenario.
sed -n "/^cat >\"\$PUB_LUA\" <<'LUA'/,/^LUA/p" bench/compare.sh | sed '1d;$d' >"$work/publish.lua"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=memory://
[ "$store" = sqlite ] && url="sqlite://$work/hub.sqlite3"
SSE_PUBLISHER_JWT_KEY=$SECRET SSE_SUBSCRIBER_JWT_KEY=$SECRET RUST_LOG=warn \
  taskset -c 0 "$bin" serve --addr "127.0.0.1:$port" --store "$url" --audience bench \
  --allow-anonymous >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
ticks() { sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'; }
taskset -c 1 wrk -t1 -c64 -d$((secs + 2))s -s "$work/publish.lua" "http://127.0.0.1:$port" >"$work/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 1
t0=$(ticks)
perf record -q -o "$out" "${graph[@]}" -F 1999 -p "$pid" -- sleep "$secs" 2>/dev/null
t1=$(ticks)
wait "$wrk_pid"
python3 - "$out" "$work/wrk.json" "$((t1 - t0))" "$(getconf CLK_TCK)" "$secs" <<'PY'
import collections, json, re, subprocess, sys
path, wrk, ticks, hz, secs = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
rate = wrk["requests"] / (wrk["duration_us"] / 1e6)
cpu_us = ticks / hz / secs / rate * 1e6
rep = subprocess.run(["perf", "report", "-i", path, "--no-children", "--sort", "dso,sym", "--stdio"],
                     capture_output=True, text=True).stdout
# First match wins; patterns are on "[k|.] symbol dso".
cats = [
 ("JWT verification and claims (HMAC, base64, JSON, grants, token cache)",
  r"sha2::|hmac|base64|jsonwebtoken|serde_json|serde_core|auth::|grants|Authorizer|indexmap|token_cache|sip::Hasher|hash_one"),
 ("form decoding, topic checks, update building", r"publish::|form_decode|form_pairs|topic::|PublishRequest|Update|url::|percent_encoding"),
 ("store append: memory store", r"store::memory|MemoryStore|evict_front"),
 ("store append: SQLite (library, writer thread, group commit)", r"sqlite|rusqlite|wal[A-Z]|pager|pcache|btree|Btree|vdbe|Vdbe|store::sqlite|Writer|insert_batch|pageFind|freeSpace|sqlite3"),
 ("matching and fan-out", r"fanout|registry|delivery|subscriber::|Registry|Subscription"),
 ("update id generation (random UUID)", r"uuid|getrandom|crng|chacha|urandom|get_random"),
 ("HTTP: hyper, axum, tower (request parsing, routing, response)", r"hyper|httparse|axum|tower|http::|h1::|sse_hub::http|hub_endpoint|HttpService|Dispatcher|bytes::"),
 ("async runtime (tokio)", r"tokio|mio::|futures|Pin<P>|waker|task_tracker|TrackedFuture|poll_fn"),
 ("allocator (mimalloc)", r"\bmi_|_mi_|mimalloc"),
 ("memcpy, memcmp, other libc", r"__mem|libc|strlen|__vdso|libm"),
 ("kernel: file writes and fsync (SQLite WAL)", r"\[k\] (ext4|jbd2|blk|file_|filemap|generic_perform|fsync|iomap|folio|__filemap|submit|bio|iowrite|mpage|balance_dirty|block_|xas_|lruvec|__block|virtqueue|vring)"),
 ("kernel: waking the reader of each response (loopback softirq, IPI)", r"\[k\] (_raw_spin_unlock_irqrestore|try_to_wake|ttwu|select_task|__wake_up|sock_def_readable)"),
 ("kernel: scheduling, futex, timers", r"\[k\] (_raw_spin|finish_task_switch|schedule|__schedule|pick_next|enqueue|dequeue|update_curr|psi_|futex|hrtimer|read_tsc|native_|ktime|irq)"),
 ("kernel: epoll and syscall entry", r"\[k\] (ep_|do_epoll|epoll|do_syscall|entry_|syscall|fdget|__fget|__x64|fput)"),
 ("kernel: TCP/IP and socket copies", r"\[k\] (tcp|__tcp|ip_|__ip|inet|__inet|skb|__skb|sock|__sock|_copy|copy_|vfs_|dev_|__dev|netif|__netif|loopback|nf_|__napi|napi|net_|__kfree_skb|kfree|__slab|kmem|__alloc|release_sock|lock_sock|sk_|__sk|rw_verify|import_iovec|iov|__local_bh|do_softirq|handle_softirqs|neigh|validate_xmit|eth_|bbr_|raw_local|process_backlog|__sys_|ipv4_|__check_object|__virt_addr|rb_|__list)"),
]
tot = collections.OrderedDict((c, 0.0) for c, _ in cats)
tot["other, kernel"] = 0.0
tot["other, user space"] = 0.0
for line in rep.splitlines():
    m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+(\[[k.]\])\s+(.*)", line)
    if not m:
        continue
    pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()
    key = f"{kind} {sym} {dso}"
    for c, rx in cats:
        if re.search(rx, key):
            tot[c] += pct
            break
    else:
        tot["other, kernel" if kind == "[k]" else "other, user space"] += pct
print(f"{rate:,.0f} publishes/s, server CPU {cpu_us:.1f} µs per publish, p99 {wrk['latency_us']['p99'] / 1000:.1f} ms, "
      f"{wrk['non_2xx_3xx']} error answers")
print()
print("| where | share of server CPU | µs per publish |")
print("|---|---:|---:|")
for c, v in tot.items():
    print(f"| {c} | {v:.1f}% | {v / 100 * cpu_us:.1f} |")
PY
