//! Client CPU per received event and memory per open event source, for
//! `sse-client`, `reqwest-eventsource` and `eventsource-client`, against the
//! same local server in the same run.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-client cargo bench -p sse-eventsource --bench compare
//! ```
//!
//! The server runs in a child process (this binary, `serve` mode), so the
//! client's numbers contain none of its work. CPU is the client thread's own
//! CPU time (`CLOCK_THREAD_CPUTIME_ID`), read around receiving N events on a
//! current-thread runtime, where every library's tasks (hyper connection
//! tasks included) run on that one thread. Memory is the resident-set growth
//! of a fresh child process (`mem` mode) per library while K sources are
//! open and have each received one event, divided by K.
//!
//! Environment: `BENCH_EVENTS` (default 200000), `BENCH_ROUNDS` (5),
//! `BENCH_SOURCES` (1000). Under `cargo test --all-targets` (no `--bench`
//! argument) it makes a small smoke run instead.

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIBS: [&str; 3] = ["sse-client", "reqwest-eventsource", "eventsource-client"];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => serve(),
        Some("mem") => mem(&args[2], &args[3], args[4].parse().unwrap()),
        // `cargo bench` passes --bench; `cargo test --all-targets` does not,
        // and then a small smoke run checks the harness without the cost.
        _ => orchestrate(!args.iter().any(|a| a == "--bench")),
    }
}

/// One event as a market feed would send it (~70 bytes on the wire).
fn event(i: usize) -> String {
    // Fixed width, so the server can cut the block at event boundaries.
    format!("id: {i:06}\ndata: {{\"seq\":{i:06},\"sym\":\"ABC\",\"price\":101.25,\"qty\":300}}\n\n")
}

fn serve() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        // 1000 distinct events, repeated: encoded once, written in 64 KiB
        // HTTP chunks, as a server that batches writes would.
        let block: Vec<u8> = (0..1000).flat_map(|i| event(i).into_bytes()).collect();
        let block = std::sync::Arc::new(block);
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let block = block.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                let resp = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
                if s.write_all(resp.as_bytes()).await.is_err() {
                    return;
                }
                if let Some(n) = path.strip_prefix("/burst?n=") {
                    let mut left: usize = n.parse().unwrap_or(0);
                    let per_event = block.len() / 1000;
                    while left > 0 {
                        let events = left.min(1000);
                        let bytes = &block[..events * per_event];
                        for piece in bytes.chunks(64 * 1024) {
                            let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
                            frame.extend_from_slice(piece);
                            frame.extend_from_slice(b"\r\n");
                            if s.write_all(&frame).await.is_err() {
                                return;
                            }
                        }
                        left -= events;
                    }
                    let _ = s.write_all(b"0\r\n\r\n").await;
                } else {
                    let one = event(1);
                    let frame = format!("{:x}\r\n{one}\r\n", one.len());
                    if s.write_all(frame.as_bytes()).await.is_err() {
                        return;
                    }
                    // Idle: hold until the client leaves.
                    while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
}

/// Receives `n` messages from `url` with library `lib`.
async fn receive(lib: &str, url: &str, n: usize) {
    let mut got = 0;
    match lib {
        "sse-client" => {
            let mut es = sse_client::EventSource::builder(url)
                .reconnect(sse_client::ReconnectPolicy::never())
                .build()
                .unwrap();
            while let Some(ev) = es.next().await {
                match ev {
                    sse_client::Event::Message(m) => {
                        black_box(&m);
                        got += 1;
                        if got == n {
                            break;
                        }
                    }
                    sse_client::Event::Error { error, .. } => panic!("{error}"),
                    _ => {}
                }
            }
        }
        "reqwest-eventsource" => {
            let mut es = reqwest_eventsource::EventSource::get(url);
            while let Some(ev) = es.next().await {
                match ev {
                    Ok(reqwest_eventsource::Event::Message(m)) => {
                        black_box(&m);
                        got += 1;
                        if got == n {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            es.close();
        }
        "eventsource-client" => {
            use eventsource_client::Client;
            let client = eventsource_client::ClientBuilder::for_url(url)
                .unwrap()
                .reconnect(eventsource_client::ReconnectOptions::reconnect(false).build())
                .build_with_transport(launchdarkly_sdk_transport::HyperTransport::new().unwrap());
            let mut stream = client.stream();
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(eventsource_client::SSE::Event(e)) => {
                        black_box(&e);
                        got += 1;
                        if got == n {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        other => panic!("unknown library {other}"),
    }
    assert_eq!(got, n, "{lib} received {got} of {n}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Opens `k` sources of `lib` on `/idle`, each until its first message,
/// and prints the resident-set growth per source.
fn mem(lib: &str, base: &str, k: usize) {
    let rt = runtime();
    rt.block_on(async {
        let url = format!("{base}/idle");
        // One source first, so one-time costs (lazy statics, the runtime's
        // buffers, the TLS root store) are not counted per source.
        let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
        keep.push(open_one(lib, &url).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = rss_bytes();
        for _ in 0..k {
            keep.push(open_one(lib, &url).await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = rss_bytes();
        println!("{}", (after.saturating_sub(before)) / k as u64);
        drop(keep);
    });
}

async fn open_one(lib: &str, url: &str) -> Box<dyn std::any::Any> {
    match lib {
        "sse-client" => {
            let mut es = sse_client::EventSource::new(url).unwrap();
            loop {
                if let Some(sse_client::Event::Message(_)) = es.next().await {
                    return Box::new(es);
                }
            }
        }
        "reqwest-eventsource" => {
            let mut es = reqwest_eventsource::EventSource::get(url);
            loop {
                if let Some(Ok(reqwest_eventsource::Event::Message(_))) = es.next().await {
                    return Box::new(es);
                }
            }
        }
        "eventsource-client" => {
            use eventsource_client::Client;
            let client = eventsource_client::ClientBuilder::for_url(url)
                .unwrap()
                .build_with_transport(launchdarkly_sdk_transport::HyperTransport::new().unwrap());
            let mut stream = client.stream();
            loop {
                if let Some(Ok(eventsource_client::SSE::Event(_))) = stream.next().await {
                    return Box::new((client, stream));
                }
            }
        }
        other => panic!("unknown library {other}"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn orchestrate(smoke: bool) {
    let (events, rounds, sources) = if smoke {
        (2_000, 1, 10)
    } else {
        (
            env_or("BENCH_EVENTS", 200_000),
            env_or("BENCH_ROUNDS", 5),
            env_or("BENCH_SOURCES", 1000),
        )
    };
    let exe = std::env::current_exe().unwrap();
    let mut server = Killed(
        Command::new(&exe)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server"),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = format!("http://127.0.0.1:{}", line.trim());
    let url = format!("{base}/burst?n={events}");

    println!("client CPU per event: {events} events x {rounds} rounds, median (ns/event)");
    let rt = runtime();
    // Warm-up: connection setup paths, allocator pools.
    for lib in LIBS {
        rt.block_on(receive(lib, &format!("{base}/burst?n=1000"), 1000));
    }
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); LIBS.len()];
    for _ in 0..rounds {
        // Interleaved, so machine noise hits all libraries alike.
        for (i, lib) in LIBS.iter().enumerate() {
            let t0 = thread_cpu_ns();
            rt.block_on(receive(lib, &url, events));
            let t1 = thread_cpu_ns();
            cpu[i].push((t1 - t0) as f64 / events as f64);
        }
    }
    for (i, lib) in LIBS.iter().enumerate() {
        let all: Vec<String> = cpu[i].iter().map(|v| format!("{v:.0}")).collect();
        println!(
            "  {lib:<22} {:>7.0} ns   (rounds: {})",
            median(cpu[i].clone()),
            all.join(", ")
        );
    }

    println!("memory per open source: {sources} sources, each after its first event (bytes RSS)");
    for lib in LIBS {
        let out = Command::new(&exe)
            .args(["mem", lib, &base, &sources.to_string()])
            .output()
            .expect("run the memory probe");
        let text = String::from_utf8_lossy(&out.stdout);
        println!("  {lib:<22} {:>7} B", text.trim());
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    drop(server);
}

/// The server child, stopped even when a measurement panics.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
