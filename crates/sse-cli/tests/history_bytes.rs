//! The history's byte bound as an operator meets it: `sse serve` with the
//! memory store, one publisher sending 200 updates of 1 MB, and the
//! process's peak resident memory (`VmHWM` in `/proc/<pid>/status`).
//!
//! The count bound is set far above 200, so only `--history-bytes` keeps
//! the history from holding all 200 MB (with `--history-bytes 1GiB`, as
//! before the byte bound existed, the same run peaked at 230,968 KiB and
//! fails). This is a bound on memory, not a timing.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use sse_testkit::binary::SseCommand;
use sse_testkit::mercure::client::now;

const PUBLISHER_KEY: &str = "history-bytes publisher secret, 32 bytes+";
const AUDIENCE: &str = "urn:sse:history-bytes-test";
const TOPIC: &str = "urn:sse:big";

/// Updates published, and the data of each.
const UPDATES: usize = 200;
const DATA_LEN: usize = 1_000_000;
/// `--history-bytes`.
const HISTORY_BYTES: u64 = 16 << 20;
/// What the process may hold beyond its history: code, the runtime, the
/// request being read (up to `--max-body`, 1 MiB, read and decoded once
/// or twice), allocator slack. Measured: the whole process peaked at
/// 52,080 KiB in this test, debug build (RELIABILITY.md, "History bounded
/// by bytes").
const PROCESS_ALLOWANCE: u64 = 64 << 20;

fn publisher_token() -> String {
    let spec = sse_hub::auth::TokenSpec::publisher(AUDIENCE, [TOPIC]);
    sse_hub::auth::mint_hs256(PUBLISHER_KEY.as_bytes(), &spec, now()).expect("token")
}

/// Publishes `data` to [`TOPIC`]; the HTTP status.
fn publish(addr: &str, token: &str, data: &str) -> u16 {
    let body = format!("topic={TOPIC}&data={data}");
    let mut s = TcpStream::connect(addr).expect("connect to the hub");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .expect("send the head");
    s.write_all(body.as_bytes()).expect("send the body");
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A `/proc/<pid>/status` field given in kB, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    kib * 1024
}

#[test]
fn one_mb_updates_keep_the_memory_store_within_history_bytes() {
    let mut hub = SseCommand::new("serve")
        .args(["--store", "memory://", "--audience", AUDIENCE])
        .args(["--history-size", "100000", "--history-bytes", "16MiB"])
        .env("SSE_ADDR", "127.0.0.1:0")
        .env("SSE_PUBLISHER_JWT_KEY", PUBLISHER_KEY)
        .env("SSE_LOG", "warn")
        .start_announced();
    let addr = hub.addr().to_string();
    let token = publisher_token();
    let data = "x".repeat(DATA_LEN);
    for i in 0..UPDATES {
        let status = publish(&addr, &token, &data);
        assert_eq!(status, 200, "publish {i}: {}", hub.stderr());
    }
    let peak = status_bytes(hub.pid(), "VmHWM");
    let now = status_bytes(hub.pid(), "VmRSS");
    // Printed for RELIABILITY.md (run with --nocapture).
    println!(
        "{UPDATES} x {DATA_LEN} B, --history-bytes {HISTORY_BYTES}: peak RSS {} KiB, now {} KiB",
        peak / 1024,
        now / 1024
    );
    let bound = HISTORY_BYTES + PROCESS_ALLOWANCE;
    assert!(
        peak <= bound,
        "peak RSS {peak} B is over --history-bytes + {PROCESS_ALLOWANCE} B = {bound} B"
    );
    hub.stop();
}
