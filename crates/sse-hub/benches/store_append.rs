//! Acknowledged durable appends per second on the SQLite store, with 1, 16
//! and 64 concurrent publishers, group commit against one commit per
//! append, side by side in one run.
//!
//! ```text
//! cargo bench -p sse-hub --bench store_append
//! taskset -c 0 cargo bench -p sse-hub --bench store_append   # one core
//! ```
//!
//! Environment: `SSE_BENCH_SECS` (seconds per slice, default 1),
//! `SSE_BENCH_ROUNDS` (slices per configuration, default 5),
//! `SSE_BENCH_DIR` (where the database files go, default the system temp
//! directory: put it on the disk you deploy on, since sync cost is the
//! point).
//!
//! Each publisher appends in a loop and waits for every acknowledgement, as
//! a hub's publish handler does; the rate counts acknowledged appends only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sse_hub::store::{SqliteConfig, SqliteStore, Store, Synchronous};
use sse_hub::Update;

#[derive(Clone, Copy)]
struct Mode {
    name: &'static str,
    max_batch: usize,
    synchronous: Synchronous,
}

const MODES: [Mode; 4] = [
    Mode {
        name: "group commit, Full (fsync)",
        max_batch: 1024,
        synchronous: Synchronous::Full,
    },
    Mode {
        name: "commit per append, Full (fsync)",
        max_batch: 1,
        synchronous: Synchronous::Full,
    },
    Mode {
        name: "group commit, FullDataSync",
        max_batch: 1024,
        synchronous: Synchronous::FullDataSync,
    },
    Mode {
        name: "commit per append, FullDataSync",
        max_batch: 1,
        synchronous: Synchronous::FullDataSync,
    },
];

const PUBLISHERS: [usize; 3] = [1, 16, 64];

struct Slice {
    acked: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

/// One configuration's store and what its slices measured.
struct Row {
    mode: Mode,
    publishers: usize,
    store: Arc<SqliteStore>,
    rates: Vec<f64>,
    latencies_us: Vec<u32>,
    _dir: tempfile::TempDir,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not and
    // gets a short smoke run that checks the benchmark still works.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let secs: f64 = env_or("SSE_BENCH_SECS", if smoke { 0.05 } else { 1.0 });
    let rounds: usize = env_or("SSE_BENCH_ROUNDS", if smoke { 1 } else { 5 });
    let base = std::env::var_os("SSE_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let slice = Duration::from_secs_f64(secs);

    // One store per configuration, kept across rounds so later rounds run
    // in steady state (WAL at size, retention deleting). Rounds interleave
    // the configurations so that a burst of load from other processes
    // hits them alike; the median per row is reported.
    let mut rows = Vec::new();
    for publishers in PUBLISHERS {
        for mode in MODES {
            let dir = tempfile::tempdir_in(&base).expect("temp dir");
            let store = SqliteStore::open(SqliteConfig {
                max_batch: mode.max_batch,
                synchronous: mode.synchronous,
                ..SqliteConfig::new(dir.path().join("bench.sqlite3"))
            })
            .expect("open");
            rows.push(Row {
                mode,
                publishers,
                store: Arc::new(store),
                rates: Vec::new(),
                latencies_us: Vec::new(),
                _dir: dir,
            });
        }
    }
    let load_before = load_average();
    for _ in 0..rounds {
        for row in &mut rows {
            let s = runtime.block_on(run(Arc::clone(&row.store), row.publishers, slice));
            row.rates.push(s.acked as f64 / s.elapsed.as_secs_f64());
            row.latencies_us.extend(s.latencies_us);
        }
    }
    let load_after = load_average();

    println!(
        "sqlite store: acknowledged appends/s; {rounds} rounds x {secs} s per row, interleaved; \
         files in {}; {} CPU(s) available; load average {load_before} before, {load_after} after",
        base.display(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!();
    println!(
        "| mode | publishers | appends/s (median) | min - max | mean batch | p50 ack | p99 ack |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in &mut rows {
        row.rates.sort_by(f64::total_cmp);
        row.latencies_us.sort_unstable();
        let stats = row.store.stats();
        let lat = &row.latencies_us;
        let pct = |p: f64| {
            let i = ((lat.len().saturating_sub(1)) as f64 * p).round() as usize;
            f64::from(lat.get(i).copied().unwrap_or(0)) / 1000.0
        };
        println!(
            "| {} | {} | {:.0} | {:.0} - {:.0} | {:.1} | {:.2} ms | {:.2} ms |",
            row.mode.name,
            row.publishers,
            row.rates.get(row.rates.len() / 2).copied().unwrap_or(0.0),
            row.rates.first().copied().unwrap_or(0.0),
            row.rates.last().copied().unwrap_or(0.0),
            stats.appends as f64 / stats.commits.max(1) as f64,
            pct(0.50),
            pct(0.99),
        );
    }
    for row in rows {
        runtime.block_on(row.store.close()).expect("close");
    }
}

/// `publishers` tasks append in a loop for `duration`, each waiting for its
/// acknowledgement before the next append.
async fn run(store: Arc<SqliteStore>, publishers: usize, duration: Duration) -> Slice {
    // A realistic small update: one topic, a JSON body of ~100 bytes.
    let template = Update {
        id: String::new(),
        topics: vec!["https://example.com/books/1".to_owned()],
        data: format!("{{\"id\":1,\"title\":\"{}\"}}", "x".repeat(80)),
        private: false,
        event_type: None,
        retry: None,
    };
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..publishers)
        .map(|_| {
            let store = Arc::clone(&store);
            let template = template.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    store.append(template.clone()).await.expect("append");
                    latencies.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                latencies
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await.expect("publisher"));
    }
    Slice {
        acked: latencies_us.len() as u64,
        elapsed: start.elapsed(),
        latencies_us,
    }
}
