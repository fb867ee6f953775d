//! Broadcast to many loopback subscribers: memory per subscriber and CPU
//! per delivery, for three servers side by side in one run:
//!
//! - `light`: `sse_server::Broadcast` served by `sse_server::serve`;
//! - `ours-axum`: `sse_server::Broadcast` served by `axum::serve`;
//! - `baseline`: axum `Sse` over a `tokio::sync::broadcast`, served by
//!   `axum::serve` (what people write today).
//!
//! ```text
//! cargo bench -p sse-http-server --bench broadcast -- [SUBSCRIBERS...] [--events N] [--rate R] [--stalled N]
//! ```
//!
//! The driver (this process, the load) re-runs itself as a child server
//! (`server <kind>`), pinned with `taskset` to core 0 when available while
//! the load runs on core 1. It reads the child's RSS from
//! `/proc/PID/status` and its CPU time from `/proc/PID/stat`:
//!
//! - memory per subscriber = (RSS with N idle subscribers − RSS before) / N;
//! - CPU per delivery = server CPU time while publishing / (events × N).
//!
//! Figures are printed, never asserted.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Counts live heap bytes, so the server can report exactly what each
/// subscriber holds (RSS also counts allocator caching and fragmentation).
struct Counting;

static LIVE: AtomicU64 = AtomicU64::new(0);

// A global allocator is `unsafe` to implement; this one only forwards to
// the system allocator (the crate denies `unsafe_code` everywhere else).
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as u64, Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size() as u64, Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as u64, Ordering::Relaxed);
        LIVE.fetch_sub(l.size() as u64, Ordering::Relaxed);
        unsafe { std::alloc::System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("server") {
        let kind = args.get(1).cloned().unwrap_or_default();
        server(&kind);
        return;
    }
    let mut subs = Vec::new();
    let mut events = 20u64;
    let mut rate = 10u64;
    let mut stalled = 0usize;
    let mut kinds = vec!["light".to_owned(), "ours-axum".into(), "baseline".into()];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--events" => events = it.next().and_then(|v| v.parse().ok()).unwrap_or(events),
            "--rate" => rate = it.next().and_then(|v| v.parse().ok()).unwrap_or(rate),
            "--stalled" => stalled = it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--kinds" => {
                kinds = it
                    .next()
                    .map(|v| v.split(',').map(str::to_owned).collect())
                    .unwrap_or(kinds)
            }
            "--bench" => {}
            n => {
                if let Ok(n) = n.parse::<usize>() {
                    subs.push(n);
                }
            }
        }
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` does not and
    // gets a small smoke run that checks the benchmark still works.
    let smoke = !args.iter().any(|a| a == "--bench");
    if smoke {
        subs = vec![50];
        events = 3;
    }
    if subs.is_empty() {
        subs = vec![1000, 10_000];
    }
    pin_self(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{:<10} {:>7} {:>12} {:>11} {:>14} {:>14} {:>12}",
        "server",
        "subs",
        "KB/sub idle",
        "heap B/sub",
        "µs CPU/deliv",
        "deliveries/s",
        "KB/sub after"
    );
    for &n in &subs {
        for kind in &kinds {
            rt.block_on(scenario(kind, n, events, rate));
        }
    }
    if stalled > 0 {
        for kind in &kinds {
            rt.block_on(stalled_scenario(kind, stalled));
        }
    }
}

/// Pins this process to `core` when `taskset` exists and the machine has it.
fn pin_self(core: usize) {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > core {
        let _ = Command::new("taskset")
            .args(["-pc", &core.to_string(), &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
}

struct ServerProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl ServerProc {
    fn start(kind: &str) -> ServerProc {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = if Command::new("taskset").arg("-V").output().is_ok() {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        let mut child = cmd
            .args(["server", kind])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line.trim().parse().expect("the server prints its address");
        ServerProc {
            child,
            stdin,
            stdout,
            addr,
        }
    }

    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    fn rss_kb(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// User + system CPU time.
    fn cpu(&self) -> Duration {
        let s = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after = &s[s.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        // Fields 14 and 15 (utime, stime), counted from the state field (3).
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        let hz = 100; // USER_HZ on Linux
        Duration::from_micros(ticks * 1_000_000 / hz)
    }

    fn wait_subscribers(&mut self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let count: usize = self.ask("count").parse().unwrap_or(0);
            if count >= n {
                return;
            }
            assert!(Instant::now() < deadline, "only {count} of {n} subscribed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(addr: SocketAddr, recv_buf: Option<u32>) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(b) = recv_buf {
        sock.set_recv_buffer_size(b).unwrap();
    }
    let mut s = sock.connect(addr).await.expect("connect");
    s.write_all(b"GET /events HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    s
}

/// A subscriber that counts events (blank lines) as they arrive.
async fn subscriber(addr: SocketAddr, delivered: Arc<AtomicU64>) {
    let mut s = connect(addr, None).await;
    let mut buf = vec![0u8; 4096];
    let mut prev_nl = false;
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut count = 0;
        for &b in &buf[..n] {
            if b == b'\n' {
                if prev_nl {
                    count += 1;
                }
                prev_nl = true;
            } else if b != b'\r' {
                prev_nl = false;
            } else {
                // "\n\r\n" (end of a chunk) is not a blank SSE line.
                prev_nl = false;
            }
        }
        delivered.fetch_add(count, Ordering::Relaxed);
    }
}

async fn scenario(kind: &str, n: usize, events: u64, rate: u64) {
    let mut server = ServerProc::start(kind);
    let rss0 = server.rss_kb();
    let heap0: u64 = server.ask("heap").parse().unwrap_or(0);
    let delivered = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        tasks.push(tokio::spawn(subscriber(server.addr, delivered.clone())));
        tokio::task::yield_now().await;
    }
    server.wait_subscribers(n);
    // Let the connections settle (lazy allocations on the first poll).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss1 = server.rss_kb();
    let heap1: u64 = server.ask("heap").parse().unwrap_or(0);
    let cpu0 = server.cpu();
    let t0 = Instant::now();
    let _ = server.ask(&format!("publish {events} {rate}"));
    let want = events * n as u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    while delivered.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = t0.elapsed();
    let cpu = server.cpu() - cpu0;
    let got = delivered.load(Ordering::Relaxed);
    let rss2 = server.rss_kb();
    let per_sub = (rss1.saturating_sub(rss0)) as f64 / n as f64;
    let heap_per_sub = heap1.saturating_sub(heap0) as f64 / n as f64;
    let per_sub_after = (rss2.saturating_sub(rss0)) as f64 / n as f64;
    let us_per = cpu.as_secs_f64() * 1e6 / got.max(1) as f64;
    println!(
        "{kind:<10} {n:>7} {per_sub:>12.2} {heap_per_sub:>11.0} {us_per:>14.2} {:>14.0} {per_sub_after:>12.2}{}",
        got as f64 / elapsed.as_secs_f64(),
        if got < want {
            format!("  (only {got} of {want} delivered)")
        } else {
            String::new()
        }
    );
    drop(server);
    for t in tasks {
        t.abort();
    }
}

/// `n` subscribers that never read; publish 2,000 events of 1 KiB and
/// report the server's RSS growth per stalled subscriber.
async fn stalled_scenario(kind: &str, n: usize) {
    let mut server = ServerProc::start(kind);
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        socks.push(connect(server.addr, Some(4096)).await);
    }
    server.wait_subscribers(n);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss1 = server.rss_kb();
    let _ = server.ask("publish-big 2000 1000");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss2 = server.rss_kb();
    let left: usize = server.ask("count").parse().unwrap_or(0);
    println!(
        "stalled {kind:<10} {n:>6} subs: RSS +{:.1} KB/sub after 2000×1 KiB events; {left} still subscribed",
        rss2.saturating_sub(rss1) as f64 / n as f64
    );
    drop(socks);
}

// ---------------------------------------------------------------- server

fn server(kind: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        let publisher: Arc<dyn Publisher> =
            match kind {
                "light" | "ours-axum" => {
                    let bc = sse_server::Broadcast::new(64);
                    let app = axum::Router::new()
                    .route(
                        "/events",
                        axum::routing::get(
                            |axum::extract::State(bc): axum::extract::State<sse_server::Broadcast>,
                             sse: sse_server::EventStreamRequest| async move {
                                // SSE_BENCH_NO_KEEPALIVE=1 shows what the per-stream timer costs.
                                let ka = std::env::var_os("SSE_BENCH_NO_KEEPALIVE")
                                    .is_none()
                                    .then_some(Duration::from_secs(600));
                                let b = sse.into_builder().keep_alive(ka);
                                bc.subscribe_with(b).map(|(_, r)| r).map_err(|_| ())
                            },
                        ),
                    )
                    .with_state(bc.clone());
                    if kind == "light" {
                        tokio::spawn(async move { sse_server::serve(listener, app).await });
                    } else {
                        tokio::spawn(async move { axum::serve(listener, app).await });
                    }
                    Arc::new(bc)
                }
                _ => {
                    let (tx, _) = tokio::sync::broadcast::channel::<String>(256);
                    let app = axum::Router::new()
                        .route("/events", axum::routing::get(baseline_handler))
                        .with_state(tx.clone());
                    tokio::spawn(async move { axum::serve(listener, app).await });
                    Arc::new(tx)
                }
            };
        let stdin = tokio::io::stdin();
        let mut lines = tokio::io::BufReader::new(stdin);
        let mut line = String::new();
        loop {
            line.clear();
            if tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut line)
                .await
                .unwrap_or(0)
                == 0
            {
                return;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["count"] => println!("{}", publisher.count()),
                ["heap"] => println!("{}", LIVE.load(Ordering::Relaxed)),
                ["publish", n, rate] | ["publish-big", n, rate] => {
                    let n: u64 = n.parse().unwrap_or(0);
                    let rate: u64 = rate.parse().unwrap_or(1).max(1);
                    let payload = if parts[0] == "publish-big" {
                        "x".repeat(1024)
                    } else {
                        "{\"price\":123.45,\"symbol\":\"ABC\"}".to_owned()
                    };
                    println!("started");
                    let p = publisher.clone();
                    tokio::spawn(async move {
                        let mut tick =
                            tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
                        for i in 0..n {
                            tick.tick().await;
                            p.publish(i, &payload);
                        }
                    });
                }
                _ => println!("?"),
            }
        }
    });
}

trait Publisher: Send + Sync {
    fn publish(&self, seq: u64, data: &str);
    fn count(&self) -> usize;
}

impl Publisher for sse_server::Broadcast {
    fn publish(&self, _seq: u64, data: &str) {
        self.send(sse_server::Event::new().data(data.to_owned()));
    }
    fn count(&self) -> usize {
        self.subscriber_count()
    }
}

impl Publisher for tokio::sync::broadcast::Sender<String> {
    fn publish(&self, seq: u64, data: &str) {
        let _ = self.send(format!("{seq}\n{data}"));
    }
    fn count(&self) -> usize {
        self.receiver_count()
    }
}

async fn baseline_handler(
    axum::extract::State(tx): axum::extract::State<tokio::sync::broadcast::Sender<String>>,
) -> impl axum::response::IntoResponse {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let rx = tx.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(msg) => {
                    let (id, data) = msg.split_once('\n').unwrap_or(("", &msg));
                    let ev = Event::default().id(id).data(data);
                    return Some((Ok::<_, std::convert::Infallible>(ev), rx));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(600)))
}
