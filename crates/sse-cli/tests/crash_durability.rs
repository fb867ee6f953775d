//! Crash durability (issue 8, RELIABILITY.md): `sse serve` on SQLite under
//! a steady publish load is killed with SIGKILL at random moments (at least
//! 20 times), restarted on the same port and store, and an `EventSource`
//! subscriber resumes with `Last-Event-ID` each time.
//!
//! Figures: acknowledged publishes lost (must be 0), duplicates delivered
//! (must be 0), updates delivered live but missing from the history after
//! the crashes (must be 0). A publish whose answer was cut by the kill is
//! "unknown": it may or may not be delivered, but never twice.
//!
//! `SSE_CRASH_KILLS` sets the number of kills (default 20) and
//! `SSE_CRASH_SEED` replays a run (the seed is printed).

mod reliability_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reliability_support::*;
use sse_client::{Event, EventSource, ReconnectPolicy};

const TOPIC: &str = "urn:crash";

#[derive(Default)]
struct Published {
    /// (sequence number, id) of every publish answered 200, in order.
    acked: Vec<(u64, String)>,
    /// Sent, but the answer was cut (the hub died): may or may not exist.
    unknown: Vec<u64>,
    /// Not sent: the hub was down.
    refused: u64,
    /// Answered with something else than 200 (the status and the body).
    rejected: Vec<(u64, u16, String)>,
}

/// Publishes `data=N` for N = 1, 2, … as fast as one connection at a time
/// allows, until `stop`.
fn publisher(addr: String, stop: Arc<AtomicBool>, out: Arc<Mutex<Published>>) {
    let token = publisher_token(&addr);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let req = publish_request(&token, &format!("topic={TOPIC}&data={n}"));
        let answer = match std::net::TcpStream::connect(&addr) {
            Err(_) => {
                out.lock().unwrap().refused += 1;
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Ok(s) => {
                drop(s);
                exchange(&addr, &req)
            }
        };
        let mut out = out.lock().unwrap();
        match answer {
            Ok(a) if a.status == 200 => out.acked.push((n, a.body.trim().to_owned())),
            Ok(a) => out.rejected.push((n, a.status, a.body)),
            Err(_) => out.unknown.push(n),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_publish_load_loses_no_acknowledged_update_and_duplicates_none() {
    let kills: usize = std::env::var("SSE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let (mut rng, seed) = Rng::from_env_or_time("SSE_CRASH_SEED");
    eprintln!("crash durability: {kills} kills, SSE_CRASH_SEED={seed}");
    let dir = temp_dir("crash");
    let addr = format!("127.0.0.1:{}", free_port());
    let store = format!("sqlite://{}", dir.join("hub.db").display());
    let args = [
        "--store",
        store.as_str(),
        "--allow-anonymous",
        "--history-size",
        "1000000",
    ];
    let mut hub = start(&dir, &addr, &args);

    // The subscriber: a real EventSource that reconnects with Last-Event-ID.
    let received: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut es = EventSource::builder(&format!("{}?topic={TOPIC}", hub_url(&addr)))
        .reconnect(
            ReconnectPolicy::default()
                .initial_retry(Duration::from_millis(20))
                .min_backoff(Duration::from_millis(20))
                .max_delay(Duration::from_millis(200))
                .jitter(0.0),
        )
        .build()
        .unwrap();
    match tokio::time::timeout(WAIT, es.next()).await {
        Ok(Some(Event::Open)) => {}
        other => panic!("the subscriber did not open: {other:?}"),
    }
    let opens = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let reader = {
        let (received, opens) = (received.clone(), opens.clone());
        tokio::spawn(async move {
            while let Some(ev) = es.next().await {
                match ev {
                    Event::Message(m) => {
                        let n: u64 = m.data.parse().expect("data is the sequence number");
                        received.lock().unwrap().push((m.id.to_string(), n));
                    }
                    Event::Open => {
                        opens.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        })
    };

    let stop = Arc::new(AtomicBool::new(false));
    let published: Arc<Mutex<Published>> = Arc::default();
    let pub_thread = {
        let (addr, stop, published) = (addr.clone(), stop.clone(), published.clone());
        std::thread::spawn(move || publisher(addr, stop, published))
    };

    // Kill at random moments: 50–600 ms after each start, so kills land in
    // the middle of publishes, group commits and replays.
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.range(50, 600)));
        hub.kill();
        std::thread::sleep(Duration::from_millis(rng.range(0, 100)));
        hub = start(&dir, &addr, &args);
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    pub_thread.join().unwrap();

    // A last acknowledged update, then wait (bounded) until it arrives.
    let token = publisher_token(&addr);
    let last = exchange(
        &addr,
        &publish_request(&token, &format!("topic={TOPIC}&data=0")),
    )
    .unwrap();
    assert_eq!(last.status, 200, "{}", last.body);
    let last_id = last.body.trim().to_owned();
    let deadline = Instant::now() + WAIT;
    while !received
        .lock()
        .unwrap()
        .iter()
        .any(|(id, _)| *id == last_id)
    {
        assert!(
            Instant::now() < deadline,
            "the subscriber did not catch up within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reader.abort();

    // What the history holds after all the crashes: every update since the
    // beginning, read by a fresh subscriber with last_event_id=earliest.
    let history = read_history(&addr, &last_id);

    let published = published.lock().unwrap();
    let received = received.lock().unwrap();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (id, _) in received.iter() {
        *count.entry(id.as_str()).or_default() += 1;
    }
    let duplicates: usize = count.values().map(|c| c - 1).sum();
    let lost: Vec<&(u64, String)> = published
        .acked
        .iter()
        .filter(|(_, id)| !count.contains_key(id.as_str()))
        .collect();
    let unknown_delivered = published
        .unknown
        .iter()
        .filter(|n| received.iter().any(|(_, m)| m == *n))
        .count();
    let phantoms: Vec<&(String, u64)> = received
        .iter()
        .filter(|(id, _)| !history.contains_key(id.as_str()))
        .collect();
    let in_order = received.windows(2).all(|w| w[0].1 < w[1].1 || w[1].1 == 0);
    eprintln!(
        "FIGURE crash durability: {kills} SIGKILLs, {} subscriber (re)opens, {} publishes acknowledged, \
         {} unknown (answer cut; {unknown_delivered} of them delivered), {} refused while down, \
         {} rejected; received {}; acknowledged lost = {}; duplicates = {duplicates}; \
         delivered but not in history = {}; history holds {}",
        opens.load(Ordering::Relaxed),
        published.acked.len(),
        published.unknown.len(),
        published.refused,
        published.rejected.len(),
        received.len(),
        lost.len(),
        phantoms.len(),
        history.len(),
    );
    assert!(
        published.rejected.is_empty(),
        "publishes refused by a running hub: {:?}",
        &published.rejected[..published.rejected.len().min(5)]
    );
    assert!(
        lost.is_empty(),
        "acknowledged but never delivered: {lost:?}"
    );
    assert_eq!(duplicates, 0, "duplicates delivered");
    assert!(in_order, "delivered in publish order");
    assert!(
        phantoms.is_empty(),
        "delivered, then lost by a crash: {phantoms:?}"
    );
    assert!(
        published.acked.len() > kills * 5,
        "the load was steady: {} acknowledged",
        published.acked.len()
    );
    hub.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every update in the hub's history for TOPIC, up to `last_id`: id → data.
fn read_history(addr: &str, last_id: &str) -> HashMap<String, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET /.well-known/mercure?topic={TOPIC}&last_event_id=earliest HTTP/1.1\r\nHost: x\r\n\
         Accept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let needle = format!("id: {last_id}\n");
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    while !String::from_utf8_lossy(&raw).contains(&needle) {
        let n = s.read(&mut buf).expect("history within the read timeout");
        assert!(n > 0, "the history stream ended before {last_id}");
        raw.extend_from_slice(&buf[..n]);
    }
    // Chunk-size lines cannot look like `id:` or `data:` lines.
    let text = String::from_utf8_lossy(&raw);
    let mut out = HashMap::new();
    let mut id = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("data: ") {
            if let Some(id) = id.take() {
                out.insert(id, v.to_owned());
            }
        }
    }
    out
}
