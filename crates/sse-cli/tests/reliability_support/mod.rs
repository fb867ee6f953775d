//! Shared by `crash_durability.rs` and `hostile_clients.rs` (issue 8,
//! RELIABILITY.md): the real `sse serve` binary as a child process (keys
//! from the environment, a data directory per test), blocking raw-HTTP
//! requests, tokens, and the hub's memory from `/proc/PID/status`. Every
//! wait is bounded.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(20);
pub const PUB_KEY: &str = "publisher secret of 32 bytes .....";
pub const SUB_KEY: &str = "subscriber secret of 32 bytes ....";

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sse-rel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

use sse_testkit::binary::{SseCommand, SseProcess};
pub use sse_testkit::ports::free_port;

/// A running `sse serve`, killed when dropped.
pub struct HubProcess {
    process: SseProcess,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

impl HubProcess {
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGKILL, and reap.
    pub fn kill(self) {
        self.process.kill();
    }

    /// The hub's resident memory now and at its peak, in KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("{name} in the hub's status"))
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap()
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Open file descriptors of the hub (its sockets, mostly).
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

/// Starts `sse serve` with the test keys on `addr` (`127.0.0.1:PORT`) in
/// `dir`, and waits (bounded) until it prints where it listens.
///
/// `SSE_HUB_BIN` runs another build of `sse` (the long runs use the release
/// one) and `SSE_HUB_CPUS` pins the hub with `taskset -c` (see
/// `sse_testkit::binary`).
pub fn start(dir: &Path, addr: &str, args: &[&str]) -> HubProcess {
    let process = SseCommand::new("serve")
        .args(args)
        .current_dir(dir)
        .env("SSE_ADDR", addr)
        .env("SSE_LOG", "error")
        .env("SSE_PUBLISHER_JWT_KEY", PUB_KEY)
        .env("SSE_SUBSCRIBER_JWT_KEY", SUB_KEY)
        .start_announced();
    HubProcess {
        process,
        addr: addr.to_owned(),
    }
}

pub fn hub_url(addr: &str) -> String {
    format!("http://{addr}/.well-known/mercure")
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A publisher token for every topic (the hub's audience is its URL).
pub fn publisher_token(addr: &str) -> String {
    let spec = sse_hub::auth::TokenSpec::publisher(hub_url(addr), ["*"]);
    sse_hub::auth::mint_hs256(PUB_KEY.as_bytes(), &spec, now()).unwrap()
}

/// A subscriber token for `topics`.
pub fn subscriber_token(addr: &str, topics: &[&str]) -> String {
    let spec = sse_hub::auth::TokenSpec::subscriber(hub_url(addr), topics.iter().copied());
    sse_hub::auth::mint_hs256(SUB_KEY.as_bytes(), &spec, now()).unwrap()
}

/// A complete HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends `raw` on a fresh connection and reads the answer to the end (the
/// request should say `Connection: close`). `Err` when the connection
/// failed or broke before a complete head.
pub fn exchange(addr: &str, raw: &[u8]) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(WAIT))?;
    s.set_write_timeout(Some(WAIT))?;
    s.write_all(raw)?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes)?;
    parse_answer(&bytes)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no complete head"))
}

pub fn parse_answer(bytes: &[u8]) -> Option<Answer> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let rest = &bytes[end..];
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Some(Answer {
        status,
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..i])
            .ok()
            .and_then(|t| usize::from_str_radix(t.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || raw.len() < i + 2 + size {
            break;
        }
        out.extend_from_slice(&raw[i + 2..i + 2 + size]);
        raw = &raw[(i + 4 + size).min(raw.len())..];
    }
    out
}

/// A form POST to the hub with a bearer token.
pub fn publish_request(token: &str, form: &str) -> Vec<u8> {
    format!(
        "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{form}",
        form.len()
    )
    .into_bytes()
}

/// A tiny deterministic generator (xorshift64*), seeded and printed by the
/// tests so a failing run can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn from_env_or_time(var: &str) -> (Rng, u64) {
        let seed = std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        (Rng(seed), seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..hi` (milliseconds, counts).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}
