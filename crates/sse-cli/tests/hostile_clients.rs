//! Hostile clients against `sse serve` (issue 8, RELIABILITY.md): oversized
//! bodies, topics, matcher lists and heads; malformed forms, query strings
//! and request lines; invalid and pathological URL patterns; invalid,
//! expired, wrongly signed and `alg: none` tokens; thousands of subscribers
//! that never read; slowloris heads; and thousands of such requests mixed
//! with real traffic. The real binary, raw TCP over loopback.
//!
//! Figures (printed as `FIGURE` lines): every bad request gets a 4xx with a
//! non-empty body; the hub's RSS stays bounded; the real subscribers' p99
//! latency under attack against a quiet run. `SSE_HOSTILE_REQUESTS` sets the
//! size of the mixed run (default 1000; `scripts/reliability.sh` runs
//! 10,000), `SSE_HOSTILE_RATE` paces it (requests/s, default unpaced),
//! `SSE_HOSTILE_QUIET` sets the quiet run's updates (default 200),
//! `SSE_HOSTILE_P99_ASSERT=1` turns the p99 check on (only the pinned
//! release run does: a latency is not a test assertion on a shared machine),
//! `SSE_HOSTILE_SUBSCRIBERS` sets the stalled subscribers (default 2000).
//! `SSE_HUB_BIN` and `SSE_HUB_CPUS` choose and pin the hub binary.

mod reliability_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reliability_support::*;
use serde_json::json;

fn env_or(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn hub(name: &str, extra: &[&str]) -> (HubProcess, std::path::PathBuf) {
    let dir = temp_dir(name);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["--store", "memory://", "--allow-anonymous"];
    args.extend_from_slice(extra);
    (start(&dir, &addr, &args), dir)
}

fn b64(v: &serde_json::Value) -> String {
    use base64_lite::encode;
    encode(v.to_string().as_bytes())
}

/// URL-safe base64 without padding (enough for a forged token header).
mod base64_lite {
    pub fn encode(bytes: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for c in bytes.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..=c.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }
}

fn get(target: &str, headers: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{headers}Connection: close\r\n\r\n"
    )
    .into_bytes()
}

fn post(form: &str, headers: &str) -> Vec<u8> {
    format!(
        "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .into_bytes()
}

/// The catalogue of bad requests: (what, raw request). Every one must get a
/// 4xx with a non-empty body.
fn bad_requests(addr: &str) -> Vec<(String, Vec<u8>)> {
    let token = publisher_token(addr);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let form = format!("{auth}Content-Type: application/x-www-form-urlencoded\r\n");
    let aud = hub_url(addr);
    let claims = json!({
        "aud": aud, "exp": now() + 3600,
        "authorization_details": [{"type": "https://mercure.rocks/authorization-detail",
            "actions": ["publish", "subscribe"], "topics": [{"match": "*"}]}],
    });
    let expired = sse_hub::auth::mint_hs256(
        PUB_KEY.as_bytes(),
        &sse_hub::auth::TokenSpec::publisher(aud.clone(), ["*"]),
        now() - 7200,
    )
    .unwrap();
    let wrong_key = sse_hub::auth::mint_hs256(
        b"not the key of this hub, 32 bytes",
        &sse_hub::auth::TokenSpec::publisher(aud.clone(), ["*"]),
        now(),
    )
    .unwrap();
    let sub_key_for_publishing = sse_hub::auth::mint_hs256(
        SUB_KEY.as_bytes(),
        &sse_hub::auth::TokenSpec::publisher(aud.clone(), ["*"]),
        now(),
    )
    .unwrap();
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt"})),
        b64(&claims)
    );
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |what: &str, raw: Vec<u8>| out.push((what.to_owned(), raw));

    // Oversized bodies, topics, ids, topic and matcher lists, heads.
    add(
        "body over max-body (2 MiB)",
        post(&format!("topic=t&data={}", "x".repeat(2 << 20)), &form),
    );
    add(
        "content-length of 10 GB",
        format!(
            "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n{form}Content-Length: 10000000000\r\nConnection: close\r\n\r\ntopic=t"
        )
        .into_bytes(),
    );
    add(
        "topic over max-topic-len",
        post(&format!("topic={}", "t".repeat(3000)), &form),
    );
    add("65 topics", post(&vec!["topic=t"; 65].join("&"), &form));
    add(
        "id over max-id-len",
        post(&format!("topic=t&id={}", "i".repeat(2000)), &form),
    );
    add(
        "type over max-type-len",
        post(&format!("topic=t&type={}", "y".repeat(300)), &form),
    );
    add(
        "101 matchers",
        get(
            &format!(
                "/.well-known/mercure?{}",
                (0..101)
                    .map(|i| format!("match=a{i}"))
                    .collect::<Vec<_>>()
                    .join("&")
            ),
            "",
        ),
    );
    add(
        "matcher of 12 KiB",
        get(
            &format!("/.well-known/mercure?match={}", "m".repeat(12 * 1024)),
            "",
        ),
    );
    add(
        "request line of 64 KiB",
        get(
            &format!("/.well-known/mercure?match={}", "m".repeat(64 * 1024)),
            "",
        ),
    );
    add(
        "head of 1 MiB (one header)",
        get(
            "/.well-known/mercure?match=a",
            &format!("Cookie: {}\r\n", "c".repeat(1 << 20)),
        ),
    );
    add(
        "200 headers",
        get(
            "/.well-known/mercure?match=a",
            &(0..200)
                .map(|i| format!("X-H{i}: v\r\n"))
                .collect::<String>(),
        ),
    );
    // Malformed forms.
    for (what, body) in [
        ("form: invalid UTF-8 data", "topic=t&data=%FF%FE"),
        ("form: invalid UTF-8 topic", "topic=%C3%28"),
        ("form: no topic", "data=x"),
        ("form: empty", ""),
        ("form: only separators", "&&&&=&="),
        ("form: name without value only", "topic"),
        ("form: NUL in topic", "topic=a%00b"),
        ("form: CR LF in id", "topic=t&id=a%0D%0Ab"),
        ("form: retry not digits", "topic=t&retry=-1"),
        (
            "form: reserved topic",
            "topic=/.well-known/mercure/subscriptions",
        ),
        ("form: topic star", "topic=*"),
    ] {
        add(what, post(body, &form));
    }
    add(
        "form: wrong content type",
        post("topic=t", &format!("{auth}Content-Type: text/plain\r\n")),
    );
    add(
        "form: chunked body with a bad chunk",
        format!(
            "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n{form}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\ntopic=t\r\n0\r\n\r\n"
        )
        .into_bytes(),
    );
    // Malformed query strings.
    for q in [
        "",
        "match=%FF",
        "MATCH=a",
        "matchFoo=a",
        "match_exact=a&matchurlpattern=b",
        "match=a%00",
        "match=a%0Ab",
        "match=a%E2%80%8Bb",
        "match=a&last_event_id=%0D%0A",
        // A 0.x query token on a hub without --legacy (on a current
        // request the parameter is ignored, M27-H).
        "topic=a&authorization=x",
    ] {
        add(
            &format!("query: {q:?}"),
            get(&format!("/.well-known/mercure?{q}"), ""),
        );
    }
    // Invalid URL patterns.
    for p in [
        "(",
        "https://example.com/:id(",
        "https://example.com/{",
        "https://example.com/:id(\\d+",
        "https://exa mple.com/:x",
        "http://[::1/:x",
        "/:a/:a",
    ] {
        let mut e = String::new();
        for b in p.bytes() {
            e.push_str(&format!("%{b:02X}"));
        }
        add(
            &format!("invalid URL pattern {p:?}"),
            get(&format!("/.well-known/mercure?match_urlpattern={e}"), ""),
        );
    }
    // Tokens: missing, garbage, expired, wrongly signed, alg none, the
    // subscriber key for publishing, on publish and subscribe.
    let ct = "Content-Type: application/x-www-form-urlencoded\r\n";
    add("publish: no token", post("topic=t", ct));
    for (what, t) in [
        ("garbage", "x.y.z".to_owned()),
        ("expired", expired),
        ("wrongly signed", wrong_key),
        ("alg none", alg_none),
        ("subscriber key", sub_key_for_publishing),
    ] {
        add(
            &format!("publish: {what} token"),
            post("topic=t", &format!("{ct}Authorization: Bearer {t}\r\n")),
        );
        if what == "subscriber key" {
            // Valid for subscribing (it grants no subscription rights).
            continue;
        }
        add(
            &format!("subscribe: {what} token"),
            get(
                "/.well-known/mercure?match=t",
                &format!("Authorization: Bearer {t}\r\n"),
            ),
        );
        add(
            &format!("subscribe: {what} cookie"),
            get(
                "/.well-known/mercure?match=t",
                &format!("Cookie: __Secure-mercure_access_token={t}\r\n"),
            ),
        );
    }
    add(
        "publish: Authorization without Bearer",
        post("topic=t", &format!("{ct}Authorization: Basic dTpw\r\n")),
    );
    // Methods and request lines.
    add(
        "PUT on the hub",
        b"PUT /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    );
    add(
        "DELETE on the hub",
        b"DELETE /.well-known/mercure HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    );
    add("garbage request line", b"GARBAGE\r\n\r\n".to_vec());
    add(
        "bad header line",
        b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_vec(),
    );
    add(
        "NUL in the path",
        b"GET /.well-known/mercure?match=a\0b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            .to_vec(),
    );
    out
}

/// Sends one bad request; returns (status, body) or a description of what
/// went wrong instead of a 4xx with a body.
fn check_bad(addr: &str, what: &str, raw: &[u8]) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("{what}: connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    // The hub may answer (and close) before the whole request is sent: a
    // failed write is fine as long as an answer can be read. No half-close:
    // HTTP/1.1 servers may take it for an abort.
    let _ = s.write_all(raw);
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    // Read until the answer is complete: its head says how long it is. A
    // bad request must not open a stream, so an event stream ends the read.
    let a = loop {
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) => return Err(format!("{what}: {e} after {} bytes", bytes.len())),
        };
        bytes.extend_from_slice(&buf[..n]);
        let a = parse_answer(&bytes);
        if n == 0 {
            break a.ok_or_else(|| format!("{what}: closed without an answer"))?;
        }
        let Some(a) = a else { continue };
        let head = a.head.to_ascii_lowercase();
        if head.contains("text/event-stream") {
            return Err(format!("{what}: {} event stream", a.status));
        }
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        let done = match len {
            Some(len) => a.body.len() >= len,
            None => bytes.ends_with(b"0\r\n\r\n"),
        };
        if done {
            break a;
        }
    };
    if !(400..500).contains(&a.status) {
        return Err(format!("{what}: {} {:?}", a.status, a.body));
    }
    if a.body.trim().is_empty() {
        return Err(format!("{what}: {} with an empty body", a.status));
    }
    Ok((a.status, a.body))
}

fn healthy(addr: &str) {
    let a = exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("the hub answers");
    assert_eq!((a.status, a.body.trim()), (200, "ok"));
}

#[test]
fn every_bad_request_gets_a_4xx_with_a_clear_body() {
    let (hub, _dir) = hub("bad-requests", &[]);
    let catalogue = bad_requests(&hub.addr);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (what, raw) in &catalogue {
        checked += 1;
        match check_bad(&hub.addr, what, raw) {
            Ok((status, body)) => eprintln!("{status} {what}: {}", body.trim()),
            Err(e) => failures.push(e),
        }
    }
    healthy(&hub.addr);
    eprintln!(
        "FIGURE bad requests: {checked} kinds, {} answered 4xx with a body",
        checked - failures.len(),
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The hub's `sse_hub_subscribers` gauge.
fn subscribers(addr: &str) -> u64 {
    let a = exchange(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("metrics");
    a.body
        .lines()
        .find_map(|l| l.strip_prefix("sse_hub_subscribers "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the subscribers gauge")
}

/// Waits (bounded) until `cond` holds.
fn wait_until(what: &str, bound: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A real subscriber on a thread: records when each `data: N` arrives.
struct RealSubscriber {
    got: Arc<Mutex<Vec<(u64, Instant)>>>,
}

impl RealSubscriber {
    fn start(addr: &str, topic: &str) -> RealSubscriber {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        write!(
            s,
            "GET /.well-known/mercure?match={topic} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut r = BufReader::new(s);
        // The head, then the stream: chunk-size lines never start "data: ".
        let mut line = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "the stream closed before its head ended");
            if line == "\r\n" {
                break;
            }
            if line.starts_with("HTTP/1.1") {
                assert!(line.starts_with("HTTP/1.1 200"), "{line}");
            }
        }
        let got: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
        let out = got.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            loop {
                line.clear();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if let Some(n) = line.trim_end().strip_prefix("data: ") {
                    if let Ok(n) = n.split(' ').next().unwrap_or("").parse() {
                        out.lock().unwrap().push((n, Instant::now()));
                    }
                }
            }
        });
        RealSubscriber { got }
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_subscribers_that_never_read_are_dropped_in_bounded_memory() {
    let stalled_n = env_or("SSE_HOSTILE_SUBSCRIBERS", 2000);
    let (hub, _dir) = hub("stalled", &["--write-timeout", "2", "--heartbeat", "0"]);
    let addr = hub.addr.clone();
    let real = RealSubscriber::start(&addr, "urn:flood");
    let (rss_before, _) = hub.rss_kib();
    let fds_before = hub.open_fds();
    let mut stalled = Vec::with_capacity(stalled_n);
    for _ in 0..stalled_n {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        // A small window: the kernel stops taking bytes for it early.
        socket.set_recv_buffer_size(4096).unwrap();
        let mut s = socket.connect(addr.parse().unwrap()).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(
            &mut s,
            b"GET /.well-known/mercure?match=urn:flood HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
        )
        .await
        .unwrap();
        stalled.push(s);
    }
    let a2 = addr.clone();
    tokio::task::spawn_blocking(move || {
        wait_until("all subscribed", WAIT * 3, || {
            subscribers(&a2) == stalled_n as u64 + 1
        })
    })
    .await
    .unwrap();
    let (rss_subscribed, _) = hub.rss_kib();
    // 400 updates of 8 KiB: 3.2 MiB for each subscriber (6.4 GB in all if
    // the hub buffered for the ones that never read), more than the kernel
    // takes into a socket buffer, so the hub's queues fill.
    let updates = 400u64;
    let token = publisher_token(&addr);
    let padding = "p".repeat(8 * 1024);
    let (a2, got) = (addr.clone(), real.got.clone());
    tokio::task::spawn_blocking(move || {
        // In lockstep with the real subscriber: its queue never holds more
        // than one update, so only the stalled ones fall behind.
        for n in 1..=updates {
            let a = exchange(
                &a2,
                &publish_request(&token, &format!("topic=urn:flood&data={n} {padding}")),
            )
            .unwrap();
            assert_eq!(a.status, 200, "{}", a.body);
            wait_until("the real subscriber", WAIT, || {
                got.lock().unwrap().len() as u64 == n
            });
        }
    })
    .await
    .unwrap();
    let (a2, got) = (addr.clone(), real.got.clone());
    tokio::task::spawn_blocking(move || {
        wait_until("the real subscriber got every update", WAIT, || {
            got.lock().unwrap().len() as u64 == updates
        });
        // The stalled ones are disconnected by the write timeout.
        let mut left = 0;
        let deadline = Instant::now() + WAIT * 3;
        while Instant::now() < deadline {
            left = subscribers(&a2);
            if left == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            left,
            1,
            "stalled subscribers still connected after {:?}",
            WAIT * 3
        );
    })
    .await
    .unwrap();
    let (rss_after, peak) = hub.rss_kib();
    let order: Vec<u64> = real.got.lock().unwrap().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        order,
        (1..=updates).collect::<Vec<_>>(),
        "every update once, in order"
    );
    // And their sockets are closed by the hub: reading ends (bounded).
    let mut closed = 0;
    for mut s in stalled {
        let mut buf = vec![0u8; 64 * 1024];
        let ended = tokio::time::timeout(WAIT, async {
            loop {
                match tokio::io::AsyncReadExt::read(&mut s, &mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        if ended.is_ok() {
            closed += 1;
        }
    }
    let fds_after = hub.open_fds();
    eprintln!(
        "FIGURE stalled subscribers: {stalled_n} never read, {updates} x 8 KiB published (a 3.2 MiB backlog each); \
         hub RSS {rss_before} KiB before, {rss_subscribed} KiB subscribed, peak {peak} KiB, {rss_after} KiB after; \
         peak growth {} KiB = {} bytes per stalled subscriber; {closed} closed by the hub; fds {fds_before} -> {fds_after}",
        peak - rss_before,
        (peak - rss_before) * 1024 / stalled_n as u64,
    );
    assert_eq!(
        closed, stalled_n,
        "every stalled subscriber was disconnected"
    );
    // Buffering the backlog for each would be 6.4 GB.
    assert!(
        peak - rss_before < 256 * 1024,
        "hub RSS grew by {} KiB",
        peak - rss_before
    );
    assert!(
        fds_after <= fds_before + 2,
        "fds {fds_before} -> {fds_after}"
    );
}

#[test]
fn slowloris_heads_are_cut_and_real_traffic_goes_on() {
    let (hub, _dir) = hub("slowloris", &[]);
    let addr = hub.addr.clone();
    let n = 200;
    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicU64::new(0));
    let answers: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut threads = Vec::new();
    for _ in 0..n {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /.well-known/mercure?match=a HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let (stop, closed, answers) = (stop.clone(), closed.clone(), answers.clone());
        threads.push(std::thread::spawn(move || {
            // One header byte every 500 ms, never finishing the head; read in
            // between to notice the close.
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !stop.load(Ordering::Relaxed) {
                if s.write_all(b"X").is_err() {
                    break;
                }
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => got.extend_from_slice(&buf[..k]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
            }
            if !stop.load(Ordering::Relaxed) {
                closed.fetch_add(1, Ordering::Relaxed);
                answers
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&got).into_owned());
            }
        }));
    }
    // Meanwhile, real traffic is served.
    let real = RealSubscriber::start(&addr, "urn:real");
    let token = publisher_token(&addr);
    let a = exchange(&addr, &publish_request(&token, "topic=urn:real&data=1")).unwrap();
    assert_eq!(a.status, 200);
    wait_until("the real subscriber", WAIT, || real.count() == 1);
    // The head timeout (30 s from the first byte) cuts every slow head.
    wait_until("slow heads cut", Duration::from_secs(60), || {
        closed.load(Ordering::Relaxed) == n
    });
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let answers = answers.lock().unwrap();
    let with_408 = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 408"))
        .count();
    eprintln!(
        "FIGURE slowloris: {n} dripping heads all cut by the hub ({with_408} with a 408 answer, {} closed silently); real traffic served meanwhile",
        n as usize - with_408
    );
    healthy(&addr);
}

fn pct(e: &str) -> String {
    e.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[test]
fn pathological_url_patterns_cannot_stall_the_hub() {
    let (hub, _dir) = hub("patterns", &[]);
    let addr = hub.addr.clone();
    let segments: String = (0..30).map(|i| format!("/:p{i}")).collect();
    let patterns = [
        "https://example.com/:a(.*)*".to_owned(),
        "https://example.com/((a|a)*)*b".to_owned(),
        "https://example.com/:a(a+)+:b(a+)+c".to_owned(),
        format!("https://example.com{}", "/*".repeat(30)),
        format!("https://example.com{segments}"),
        format!("https://example.com/{}", "*".repeat(1500)),
        "https://example.com/:x((((((((((a*)*)*)*)*)*)*)*)*)*)!".to_owned(),
    ];
    let mut streams = Vec::new();
    let (mut opened, mut refused) = (0, 0);
    for p in &patterns {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        write!(
            s,
            "GET /.well-known/mercure?match_urlpattern={} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
            pct(p)
        )
        .unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "{p}: closed without an answer");
            head.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        if text.starts_with("HTTP/1.1 200") {
            opened += 1;
            streams.push(s);
        } else {
            assert!(text.starts_with("HTTP/1.1 400"), "{p}: {text}");
            refused += 1;
        }
    }
    // Adversarial topics against those patterns: answered, and delivered.
    let real = RealSubscriber::start(&addr, "*");
    let token = publisher_token(&addr);
    let topics = [
        format!("https://example.com/{}!", "a".repeat(1500)),
        format!("https://example.com{}", "/a".repeat(900)),
        format!("https://example.com/{}", "a/".repeat(900)),
    ];
    for (i, t) in topics.iter().enumerate() {
        let a = exchange(
            &addr,
            &publish_request(&token, &format!("topic={}&data={}", pct(t), i + 1)),
        )
        .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
    }
    wait_until("adversarial topics delivered", WAIT, || {
        real.count() == topics.len()
    });
    healthy(&addr);
    eprintln!(
        "FIGURE pathological patterns: {} patterns ({opened} accepted, {refused} refused with 400), {} adversarial topics published and delivered",
        patterns.len(),
        topics.len()
    );
    drop(streams);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Publishes `data=N` for N in `range` every `gap`, until `more()` says stop
/// (at least the whole range), then returns publish-to-receive latencies
/// over every subscriber and the highest hub RSS seen.
fn real_traffic(
    hub: &HubProcess,
    subs: &[RealSubscriber],
    first: u64,
    min_count: u64,
    more: impl Fn() -> bool,
) -> (Vec<Duration>, u64) {
    let token = publisher_token(&hub.addr);
    let mut sent = std::collections::HashMap::new();
    let mut n = first;
    let mut rss_max = 0;
    while n < first + min_count || more() {
        let at = Instant::now();
        let a = exchange(
            &hub.addr,
            &publish_request(&token, &format!("topic=urn:real&data={n}")),
        )
        .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        sent.insert(n, at);
        n += 1;
        rss_max = rss_max.max(hub.rss_kib().0);
        std::thread::sleep(Duration::from_millis(10));
    }
    let last = n - 1;
    let mut latencies = Vec::new();
    for s in subs {
        wait_until("real subscribers caught up", WAIT, || {
            s.got.lock().unwrap().iter().any(|(m, _)| *m == last)
        });
        for (m, t) in s.got.lock().unwrap().iter() {
            if let Some(at) = sent.get(m) {
                latencies.push(t.duration_since(*at));
            }
        }
    }
    assert_eq!(
        latencies.len(),
        sent.len() * subs.len(),
        "every update reached every subscriber once"
    );
    latencies.sort();
    (latencies, rss_max)
}

#[test]
fn thousands_of_bad_requests_mixed_with_real_traffic() {
    let total = env_or("SSE_HOSTILE_REQUESTS", 1000);
    let rate = env_or("SSE_HOSTILE_RATE", 0);
    let (hub, _dir) = hub("mixed", &[]);
    let addr = hub.addr.clone();
    let subs: Vec<RealSubscriber> = (0..20)
        .map(|_| RealSubscriber::start(&addr, "urn:real"))
        .collect();
    wait_until("real subscribers", WAIT, || subscribers(&addr) == 20);

    // A quiet run first: the reference latency.
    // SSE_HOSTILE_QUIET sets its length in updates (the long run makes it
    // as long as the attack, for as many samples).
    let quiet_n = env_or("SSE_HOSTILE_QUIET", 200) as u64;
    let (quiet, rss_quiet) = real_traffic(&hub, &subs, 1, quiet_n, || false);
    let (rss_base, _) = hub.rss_kib();

    // Then the same traffic while attackers send `total` bad requests.
    let catalogue: Arc<Vec<(String, Vec<u8>)>> = Arc::new(bad_requests(&addr));
    let done = Arc::new(AtomicU64::new(0));
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let attackers: Vec<_> = (0..4)
        .map(|k| {
            let (catalogue, done, failures, addr) = (
                catalogue.clone(),
                done.clone(),
                failures.clone(),
                addr.clone(),
            );
            std::thread::spawn(move || {
                let started = Instant::now();
                for (sent, i) in (k..total).step_by(4).enumerate() {
                    // Paced when asked: SSE_HOSTILE_RATE requests/s in all.
                    if rate > 0 {
                        let due =
                            started + Duration::from_secs_f64(sent as f64 * 4.0 / rate as f64);
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    }
                    let (what, raw) = &catalogue[i % catalogue.len()];
                    if let Err(e) = check_bad(&addr, what, raw) {
                        failures.lock().unwrap().push(e);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let d2 = done.clone();
    let (attacked, rss_attacked) = real_traffic(&hub, &subs, 1_000_000, 200, move || {
        d2.load(Ordering::Relaxed) < total as u64
    });
    for a in attackers {
        a.join().unwrap();
    }
    let (_, peak) = hub.rss_kib();
    healthy(&addr);
    let failures = failures.lock().unwrap();
    let (q50, q99) = (percentile(&quiet, 0.5), percentile(&quiet, 0.99));
    let (a50, a99) = (percentile(&attacked, 0.5), percentile(&attacked, 0.99));
    let ratio = a99.as_secs_f64() / q99.as_secs_f64();
    eprintln!(
        "FIGURE mixed run: {total} bad requests ({} kinds, {}), {} not answered 4xx with a body; \
         20 real subscribers: quiet p50 {q50:?} p99 {q99:?} ({} samples), under attack p50 {a50:?} p99 {a99:?} ({} samples), p99 ratio {ratio:.2}; \
         hub RSS quiet max {rss_quiet} KiB, before attack {rss_base} KiB, under attack max {rss_attacked} KiB, peak {peak} KiB",
        catalogue.len(),
        if rate > 0 { format!("{rate}/s") } else { "unpaced".to_owned() },
        failures.len(),
        quiet.len(),
        attacked.len(),
    );
    assert!(
        failures.is_empty(),
        "{:#?}",
        &failures[..failures.len().min(10)]
    );
    // Bounded: the attack sends ~2 MiB bodies and 1 MiB heads by the
    // hundred; the hub keeps none of them.
    assert!(
        rss_attacked < rss_base + 64 * 1024,
        "hub RSS {rss_base} -> {rss_attacked} KiB"
    );
    // A latency ratio is a figure, not a test assertion, on a shared
    // machine; the long run (scripts/hostile_clients.sh) checks it.
    if std::env::var("SSE_HOSTILE_P99_ASSERT").as_deref() == Ok("1") {
        assert!(
            ratio <= 1.5,
            "p99 under attack is {ratio:.2}x the quiet run"
        );
    }
}

/// A connection that never sends a byte is closed after the head timeout:
/// idle sockets cannot pile up until the hub runs out of file descriptors.
#[test]
fn silent_connections_are_closed() {
    let (hub, _dir) = hub("silent", &[]);
    let n = 50;
    // The head timeout is 30 s; give it twice that.
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(&hub.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            std::thread::spawn(move || match s.read(&mut [0u8; 64]) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
            })
        })
        .collect();
    let closed = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|c| *c)
        .count();
    assert_eq!(closed, n, "silent connections closed by the hub");
}

/// A subscribe whose token grants so many topics that the head is 64 KiB
/// is refused with a 431 the client reads whole (issue 18): the client
/// sends the whole head first, as an HTTP client does, then reads; the
/// hub drains what it will not parse instead of closing on it (which made
/// the kernel send RST, and the client saw "connection reset").
#[test]
fn a_subscribe_with_a_64_kib_head_reads_the_whole_431() {
    let (hub, _dir) = hub("big-token", &[]);
    let topics: Vec<String> = (0..2000)
        .map(|i| format!("https://example.com/books/{i}"))
        .collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    let token = subscriber_token(&hub.addr, &topics);
    assert!(token.len() > 64 * 1024, "{}", token.len());
    let raw = get(
        "/.well-known/mercure?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    let tries = 20;
    for i in 0..tries {
        let a = exchange(&hub.addr, &raw)
            .unwrap_or_else(|e| panic!("try {i} of {tries}: {e} instead of the 431"));
        assert_eq!(a.status, 431, "{a:?}");
        assert_eq!(
            a.body, "request head too large: at most 16384 bytes\n",
            "{a:?}"
        );
    }
    healthy(&hub.addr);
}
