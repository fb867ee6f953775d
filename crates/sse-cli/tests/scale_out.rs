//! Scale-out: several `sse serve` processes on one real `redis-server`
//! (started here on a free port, with its data in a temporary directory).
//!
//! Every wait is bounded by [`WAIT`] only to turn a hang into a failure; no
//! assertion is about time. Without `redis-server` the tests skip with a
//! message, or fail under `SSE_TEST_STRICT=1`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sse_testkit::binary::{SseCommand, SseProcess};
use sse_testkit::mercure::client::now;
use sse_testkit::ports::free_port;
use sse_testkit::redis::Redis;
use sse_testkit::skip;
use sse_wire::{Decoder, Frame};

/// The bound on every wait.
const WAIT: Duration = Duration::from_secs(30);

const PUBLISHER_KEY: &str = "scale-out publisher secret, 32 bytes+";
const SUBSCRIBER_KEY: &str = "scale-out subscriber secret, 32 bytes";
/// Every node shares the audience, as behind one load balancer.
const AUDIENCE: &str = "urn:sse:scale-out-test";
const TOPIC: &str = "urn:sse:scale-out";

// ---------------------------------------------------------------- Redis --

/// A private `redis-server` with append-only persistence (fsync on every
/// write), so an acknowledged update survives a restart; `None` (after a
/// message) when `redis-server` is missing and `SSE_TEST_STRICT` is off.
fn start_redis() -> Option<Redis> {
    Redis::builder().append_only().start()
}

/// The `--store` URL of the nodes on `redis`, under `prefix`.
fn store_url(redis: &Redis, prefix: &str) -> String {
    format!("{}/0?prefix={prefix}", redis.url())
}

// ---------------------------------------------------------------- nodes --

/// A running `sse serve --store redis://…`, killed (SIGKILL) when dropped.
struct Node(SseProcess);

impl Node {
    fn start(store: &str, dir: &Path) -> Node {
        Node(
            SseCommand::new("serve")
                .args(["--store", store, "--allow-anonymous"])
                .args(["--audience", AUDIENCE, "--heartbeat", "1"])
                .current_dir(dir)
                .env("SSE_ADDR", "127.0.0.1:0")
                .env("SSE_PUBLISHER_JWT_KEY", PUBLISHER_KEY)
                .env("SSE_SUBSCRIBER_JWT_KEY", SUBSCRIBER_KEY)
                .start_announced(),
        )
    }

    fn addr(&self) -> String {
        self.0.addr().to_string()
    }
}

/// A five-minute publisher token for [`TOPIC`].
fn publisher_token() -> String {
    let spec = sse_hub::auth::TokenSpec::publisher(AUDIENCE, [TOPIC]);
    sse_hub::auth::mint_hs256(PUBLISHER_KEY.as_bytes(), &spec, now()).expect("token")
}

/// A plain HTTP/1.1 exchange; returns the status and the body.
fn http(addr: &str, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the node");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    // The node closes after answering (`Connection: close`).
    let _ = s.read_to_string(&mut response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// Publishes `payload of <id>` with id `id` to [`TOPIC`] on the node at
/// `addr`.
fn publish(addr: &str, token: &str, id: &str) -> (u16, String) {
    let body = format!("topic={TOPIC}&id={id}&data=payload%20of%20{id}");
    http(
        addr,
        &format!(
            "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn healthz(node: &Node) -> (u16, String) {
    http(
        &node.addr(),
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
}

/// Polls `/healthz` until it answers `status` (bounded).
fn wait_health(node: &Node, status: u16, body: &str) {
    let deadline = Instant::now() + WAIT;
    let mut last = (0, String::new());
    while Instant::now() < deadline {
        last = healthz(node);
        if last.0 == status && last.1.contains(body) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("/healthz never answered {status} {body:?}; last {last:?}");
}

// ----------------------------------------------------------- subscribers --

/// What a subscriber's reader thread reports.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    /// An update: its id (and its data, checked against the id).
    Event(String),
    /// The stream ended (the node went away or closed it).
    End,
}

/// An open subscription on one node; a thread decodes it into [`Got`]s.
struct Subscriber {
    rx: mpsc::Receiver<Got>,
    stream: TcpStream,
    /// Ids received, in order.
    seen: Vec<String>,
}

impl Subscriber {
    /// Subscribes to [`TOPIC`] on `node`, resuming after `last_event_id`
    /// when given. Returns once the node answered 200 (so the subscription
    /// is registered).
    fn open(node: &Node, last_event_id: Option<&str>) -> Subscriber {
        let mut s = TcpStream::connect(node.addr()).expect("connect to the node");
        let mut request = format!(
            "GET /.well-known/mercure?topic={TOPIC} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
        );
        if let Some(id) = last_event_id {
            request.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        request.push_str("\r\n");
        s.write_all(request.as_bytes()).expect("send");
        let mut reader = BufReader::new(s.try_clone().expect("clone"));
        // Keep-alives come every second: a read that waits longer than the
        // bound means the stream is stuck.
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut head = String::new();
        let mut chunked = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("response head");
            if line.to_ascii_lowercase().starts_with("transfer-encoding:")
                && line.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        assert!(head.starts_with("HTTP/1.1 200"), "subscribe: {head}");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || read_events(reader, chunked, &tx));
        Subscriber {
            rx,
            stream: s,
            seen: Vec::new(),
        }
    }

    /// The next thing the reader reports (bounded).
    fn next(&mut self) -> Got {
        let got = self.rx.recv_timeout(WAIT).unwrap_or(Got::End);
        if let Got::Event(id) = &got {
            self.seen.push(id.clone());
        }
        got
    }

    /// The next `n` ids; fails if the stream ends first.
    fn take(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| match self.next() {
                Got::Event(id) => id,
                Got::End => panic!("stream ended after {i} of {n} events; seen {:?}", self.seen),
            })
            .collect()
    }

    /// Reads until `id` arrives; fails if the stream ends first.
    fn until(&mut self, id: &str) {
        while !self.seen.iter().any(|s| s == id) {
            if self.next() == Got::End {
                panic!("stream ended before {id}; seen {:?}", self.seen);
            }
        }
    }

    /// Cuts the connection from the client side.
    fn cut(self) -> Vec<String> {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.seen
    }
}

/// Decodes the body (chunked or not) and reports each message's id.
fn read_events(mut reader: BufReader<TcpStream>, chunked: bool, tx: &mpsc::Sender<Got>) {
    let mut decoder = Decoder::new();
    loop {
        let bytes = if chunked {
            read_chunk(&mut reader)
        } else {
            let mut buf = vec![0u8; 8192];
            match reader.read(&mut buf) {
                Ok(n) if n > 0 => Some(buf[..n].to_vec()),
                _ => None,
            }
        };
        let Some(bytes) = bytes else {
            let _ = tx.send(Got::End);
            return;
        };
        decoder.push(&bytes);
        while let Ok(Some(frame)) = decoder.next_frame() {
            if let Frame::Message(m) = frame {
                let id = m.last_event_id.as_str().to_owned();
                assert_eq!(m.data.as_str(), format!("payload of {id}"), "data of {id}");
                if tx.send(Got::Event(id)).is_err() {
                    return;
                }
            }
        }
    }
}

/// One chunk of a chunked body; `None` at its end or when the connection
/// fails.
fn read_chunk(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut size = String::new();
    if reader.read_line(&mut size).ok()? == 0 {
        return None;
    }
    let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
    if size == 0 {
        return None;
    }
    let mut chunk = vec![0u8; size + 2]; // and its CRLF
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(size);
    Some(chunk)
}

// ------------------------------------------------------------ publisher --

/// A thread publishing `<prefix>0`, `<prefix>1`, … one after the other
/// across `nodes` in turn, until stopped; records every answer.
struct Publisher {
    stop: Arc<AtomicBool>,
    results: Arc<Mutex<Vec<(String, u16, String)>>>,
    thread: Option<JoinHandle<()>>,
}

impl Publisher {
    fn start(addrs: Vec<String>, prefix: &'static str) -> Publisher {
        let stop = Arc::new(AtomicBool::new(false));
        let results = Arc::new(Mutex::new(Vec::new()));
        let token = publisher_token();
        let thread = {
            let (stop, results) = (Arc::clone(&stop), Arc::clone(&results));
            std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let id = format!("{prefix}{i}");
                    let (status, body) = publish(&addrs[i % addrs.len()], &token, &id);
                    results.lock().expect("results").push((id, status, body));
                    i += 1;
                    // A steady stream, not a flood: subscribers keep up.
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Publisher {
            stop,
            results,
            thread: Some(thread),
        }
    }

    fn acked(&self) -> Vec<String> {
        self.results
            .lock()
            .expect("results")
            .iter()
            .filter(|(_, s, _)| *s == 200)
            .map(|(id, _, _)| id.clone())
            .collect()
    }

    fn refused(&self) -> usize {
        self.results
            .lock()
            .expect("results")
            .iter()
            .filter(|(_, s, _)| *s == 503)
            .count()
    }

    /// Waits (bounded) until `cond` holds for the answers so far.
    fn wait_for(&self, what: &str, cond: impl Fn(&Publisher) -> bool) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if cond(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "never saw {what}; answers so far: {}",
            self.results.lock().expect("results").len()
        );
    }

    fn finish(mut self) -> Vec<(String, u16, String)> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("publisher thread");
        }
        std::mem::take(&mut *self.results.lock().expect("results"))
    }
}

// -------------------------------------------------------------- helpers --

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sse-scale-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn assert_no_duplicates(ids: &[String], whose: &str) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{whose} got a duplicate: {ids:?}");
}

// ---------------------------------------------------------------- tests --

/// A publish to A reaches subscribers on B and C; a subscriber on B cut
/// mid-stream resumes on C with `Last-Event-ID` and gets every later
/// update exactly once.
#[test]
fn three_nodes_share_updates_and_a_subscriber_resumes_on_another_node() {
    let Some(redis) = start_redis() else {
        return;
    };
    let dir = temp_dir("three-nodes");
    let store = store_url(&redis, "three");
    let (a, b, c) = (
        Node::start(&store, &dir),
        Node::start(&store, &dir),
        Node::start(&store, &dir),
    );
    let token = publisher_token();
    let mut on_b = Subscriber::open(&b, None);
    let mut on_c = Subscriber::open(&c, None);
    let first: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
    for id in &first {
        let (status, body) = publish(&a.addr(), &token, id);
        assert_eq!(
            (status, body.as_str()),
            (200, id.as_str()),
            "publish {id} to A"
        );
    }
    assert_eq!(on_b.take(10), first, "B's subscriber");
    assert_eq!(on_c.take(10), first, "C's subscriber");

    // Cut B's subscriber after some of the next updates, published on all
    // three nodes in turn.
    let nodes = [&a, &b, &c];
    let second: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
    for (i, id) in second[..6].iter().enumerate() {
        let (status, _) = publish(&nodes[i % 3].addr(), &token, id);
        assert_eq!(status, 200, "publish {id}");
    }
    assert_eq!(on_b.take(3), second[..3]);
    let seen = on_b.cut();
    let last = seen.last().expect("B's subscriber saw events").clone();
    for (i, id) in second[6..].iter().enumerate() {
        let (status, _) = publish(&nodes[i % 3].addr(), &token, id);
        assert_eq!(status, 200, "publish {id}");
    }
    let mut resumed = Subscriber::open(&c, Some(&last));
    assert_eq!(resumed.take(9), second[3..], "resumed on C after {last}");
    // Nothing more than that: the next event is a fresh update.
    let (status, _) = publish(&b.addr(), &token, "fresh");
    assert_eq!(status, 200);
    assert_eq!(resumed.take(1), ["fresh"]);
    let mut all = seen;
    all.extend(resumed.seen.iter().cloned());
    assert_no_duplicates(&all, "the cut-and-resumed subscriber");
    // C's first subscriber saw the same stream, in the same order.
    on_c.until("fresh");
    let mut expected = first.clone();
    expected.extend(second.iter().cloned());
    expected.push("fresh".to_owned());
    assert_eq!(
        on_c.seen, expected,
        "every node delivers in the stream's order"
    );
}

/// Redis stopped and restarted under a steady publish stream: publishes
/// meanwhile get 503 with a clear body, `/healthz` says degraded, open
/// streams stay up, and every subscriber gets every acknowledged update,
/// in order, once.
#[test]
fn redis_restart_loses_no_acknowledged_update() {
    let Some(mut redis) = start_redis() else {
        return;
    };
    let dir = temp_dir("restart-nodes");
    let store = store_url(&redis, "restart");
    let (a, b) = (Node::start(&store, &dir), Node::start(&store, &dir));
    let mut on_a = Subscriber::open(&a, None);
    let mut on_b = Subscriber::open(&b, None);
    wait_health(&a, 200, "ok");

    let publisher = Publisher::start(vec![a.addr(), b.addr()], "r");
    publisher.wait_for("20 acknowledged publishes", |p| p.acked().len() >= 20);
    redis.stop();
    wait_health(&a, 503, "degraded");
    wait_health(&b, 503, "degraded");
    let before = publisher.refused();
    publisher.wait_for("publishes refused while Redis is down", |p| {
        p.refused() >= before + 5
    });
    redis.restart();
    wait_health(&a, 200, "ok");
    let acked_at_restart = publisher.acked().len();
    publisher.wait_for("20 more acknowledged publishes", |p| {
        p.acked().len() >= acked_at_restart + 20
    });
    let results = publisher.finish();

    let acked: Vec<String> = results
        .iter()
        .filter(|(_, s, _)| *s == 200)
        .map(|(id, _, _)| id.clone())
        .collect();
    let refused: HashSet<&str> = results
        .iter()
        .filter(|(_, s, _)| *s != 200)
        .map(|(id, _, _)| id.as_str())
        .collect();
    for (id, status, body) in &results {
        match status {
            200 => assert_eq!(body, id),
            // A publish in flight when Redis went away: it may have been
            // stored, and the answer says so (and that a retry is safe).
            503 if body.contains("outcome is unknown") => {
                assert!(body.contains(&format!("same id ({id})")), "{body}");
            }
            503 => assert!(
                body.contains("not stored") || body.contains("outcome is unknown"),
                "a 503 says the update was not stored, or that its outcome is unknown: {body:?}"
            ),
            other => panic!("publish {id}: status {other} ({body:?}); only 200 or 503 is allowed"),
        }
    }
    assert!(!refused.is_empty(), "some publishes met the outage");
    let last = acked.last().expect("acknowledged publishes").clone();
    for (name, sub) in [("A", &mut on_a), ("B", &mut on_b)] {
        sub.until(&last);
        assert_no_duplicates(&sub.seen, name);
        // A publish whose answer was lost with the connection (a 503
        // "outcome unknown") may have been stored; nothing else may appear.
        let delivered: Vec<String> = sub
            .seen
            .iter()
            .filter(|id| !refused.contains(id.as_str()))
            .cloned()
            .collect();
        assert_eq!(delivered, acked, "subscriber on {name}");
    }

    // Health follows Redis, not the last publish: after a refused publish
    // and a restart, both nodes report ok again without any publish.
    redis.stop();
    wait_health(&a, 503, "degraded");
    let (status, body) = publish(&a.addr(), &publisher_token(), "during-outage");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("unreachable"), "{body}");
    redis.restart();
    wait_health(&a, 200, "ok");
    wait_health(&b, 200, "ok");
}

/// A node killed with SIGKILL under load: its subscribers resume on the
/// other nodes and lose nothing.
#[test]
fn a_killed_node_s_subscribers_resume_elsewhere_and_lose_nothing() {
    let Some(redis) = start_redis() else {
        return;
    };
    let dir = temp_dir("kill-nodes");
    let store = store_url(&redis, "kill");
    let a = Node::start(&store, &dir);
    let (b, c) = (Node::start(&store, &dir), Node::start(&store, &dir));
    let mut first = Subscriber::open(&a, None);
    let mut second = Subscriber::open(&a, None);

    let publisher = Publisher::start(vec![b.addr(), c.addr()], "k");
    first.take(5);
    second.take(5);
    a.0.kill();
    // Read what A sent before it died, up to the end of each stream.
    for sub in [&mut first, &mut second] {
        while sub.next() != Got::End {}
    }
    let resume_first = first.seen.last().expect("events before the kill").clone();
    let resume_second = second.seen.last().expect("events before the kill").clone();
    let mut first_again = Subscriber::open(&b, Some(&resume_first));
    let mut second_again = Subscriber::open(&c, Some(&resume_second));
    let acked_at_kill = publisher.acked().len();
    publisher.wait_for("30 more acknowledged publishes", |p| {
        p.acked().len() >= acked_at_kill + 30
    });
    let results = publisher.finish();
    for (id, status, body) in &results {
        assert_eq!(*status, 200, "publish {id} to a live node: {body:?}");
    }
    let acked: Vec<String> = results.into_iter().map(|(id, _, _)| id).collect();
    let last = acked.last().expect("publishes").clone();
    for (name, before, after) in [
        ("first", &first, &mut first_again),
        ("second", &second, &mut second_again),
    ] {
        after.until(&last);
        let mut all = before.seen.clone();
        all.extend(after.seen.iter().cloned());
        assert_no_duplicates(&all, name);
        assert_eq!(all, acked, "{name} subscriber across the kill");
    }
}

// ------------------------------------------------------------- failover --

/// A process killed (SIGKILL) when dropped: a Redis primary, replica or
/// sentinel of [`Cluster`].
struct Proc {
    child: Child,
    port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One RESP command to `port`; the whole reply as text (bulk replies
/// included), `None` when nothing answers.
fn redis_cmd(port: u16, args: &[&str]) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let mut request = format!("*{}\r\n", args.len());
    for a in args {
        request.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(request.as_bytes()).ok()?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 16384];
    // Replies here are small; the read timeout ends the reply.
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    (!reply.is_empty()).then(|| String::from_utf8_lossy(&reply).into_owned())
}

/// Waits (bounded) until `cond` holds.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("never saw {what}");
}

/// A primary, two replicas and three sentinels (quorum 2), with short
/// failure detection so a failover takes about two seconds.
///
/// Two replicas, not one: after the primary dies one is promoted and the
/// other replicates from it, so a publish that waits for one replica can
/// be acknowledged again after the failover (with one replica, the new
/// primary would have none left and every publish would be "outcome
/// unknown" until the old node came back).
struct Cluster {
    primary: Option<Proc>,
    replicas: Vec<Proc>,
    sentinels: Vec<Proc>,
    dir: PathBuf,
}

const MASTER: &str = "ssemaster";

impl Cluster {
    /// `None` (after a message) when redis-server or redis-sentinel is
    /// missing and `SSE_TEST_STRICT` is unset.
    fn start(name: &str) -> Option<Cluster> {
        if !["redis-server", "redis-sentinel"]
            .iter()
            .all(|program| skip::have(program, "--version"))
        {
            return None;
        }
        let dir = temp_dir(name);
        let server = |extra: &[String]| {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                // A replica writes its sync file to --dir.
                .arg("--dir")
                .arg(&dir)
                .args(["--dbfilename", &format!("{port}.rdb")])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--loglevel", "warning"])
                .args(extra)
                .stdout(Stdio::null())
                .spawn()
                .expect("start redis-server");
            let proc = Proc { child, port };
            wait_until("redis-server answering PING", || {
                redis_cmd(port, &["PING"]).is_some_and(|r| r.starts_with("+PONG"))
            });
            proc
        };
        let primary = server(&[]);
        let of = [
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            primary.port.to_string(),
        ];
        let replicas = vec![server(&of), server(&of)];
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let port = free_port();
            let conf = dir.join(format!("sentinel-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndaemonize no\nloglevel warning\n\
                     dir {dir}\n\
                     sentinel monitor {MASTER} 127.0.0.1 {p} 2\n\
                     sentinel down-after-milliseconds {MASTER} 400\n\
                     sentinel failover-timeout {MASTER} 2000\n\
                     sentinel parallel-syncs {MASTER} 2\n",
                    dir = dir.display(),
                    p = primary.port
                ),
            )
            .expect("sentinel config");
            let child = Command::new("redis-sentinel")
                .arg(&conf)
                .stdout(Stdio::null())
                .spawn()
                .expect("start redis-sentinel");
            sentinels.push(Proc { child, port });
        }
        let cluster = Cluster {
            primary: Some(primary),
            replicas,
            sentinels,
            dir,
        };
        // Ready when every sentinel knows both replicas and the two other
        // sentinels: only then can they agree on a failover.
        for s in &cluster.sentinels {
            wait_until("sentinels that know each other and the replicas", || {
                let Some(info) = redis_cmd(s.port, &["SENTINEL", "MASTER", MASTER]) else {
                    return false;
                };
                let field = |name: &str| {
                    let lines: Vec<&str> = info.lines().collect();
                    lines
                        .iter()
                        .position(|l| *l == name)
                        .and_then(|i| lines.get(i + 2))
                        .map(|v| v.to_string())
                };
                field("num-slaves").as_deref() == Some("2")
                    && field("num-other-sentinels").as_deref() == Some("2")
            });
        }
        for r in &cluster.replicas {
            wait_until("replicas linked to the primary", || {
                redis_cmd(r.port, &["INFO", "replication"])
                    .is_some_and(|i| i.contains("master_link_status:up"))
            });
        }
        Some(cluster)
    }

    fn url(&self, query: &str) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{MASTER}/0?{query}", hosts.join(","))
    }

    /// SIGKILLs the primary and waits (bounded) until a sentinel names a
    /// replica as the new primary.
    fn kill_primary(&mut self) -> u16 {
        // Dropping the process SIGKILLs it.
        let old = self.primary.take().expect("a primary").port;
        self.await_promotion(old)
    }

    /// Waits (bounded) until a sentinel names a primary other than `old`
    /// and a replica says it is that primary; its port.
    fn await_promotion(&self, old: u16) -> u16 {
        wait_until("a sentinel naming a new primary", || {
            self.sentinels.iter().any(|s| {
                redis_cmd(s.port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER])
                    .is_some_and(|r| !r.contains(&format!("\r\n{old}\r\n")) && r.starts_with('*'))
            })
        });
        let new = self
            .replicas
            .iter()
            .find(|r| redis_cmd(r.port, &["ROLE"]).is_some_and(|role| role.contains("master")))
            .map(|r| r.port);
        new.expect("a replica promoted")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.sentinels.clear();
        self.replicas.clear();
        self.primary.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sentinel failover under load with the replica wait on (the default for
/// a sentinel URL): two nodes publish and deliver while the primary is
/// SIGKILLed and Sentinel promotes a replica. Every acknowledged update is
/// in the history afterwards, and every node delivers each one once, in
/// the same order; publishes during the failover are refused with 503
/// ("not stored", or "outcome unknown" when the replica did not confirm),
/// and publishing resumes on the new primary.
#[test]
fn sentinel_failover_loses_no_acknowledged_update() {
    let Some(mut cluster) = Cluster::start("failover") else {
        return;
    };
    let dir = temp_dir("failover-nodes");
    let store = cluster.url("prefix=fo&replica_timeout_ms=500");
    let (a, b) = (Node::start(&store, &dir), Node::start(&store, &dir));
    let mut on_a = Subscriber::open(&a, None);
    let mut on_b = Subscriber::open(&b, None);
    wait_health(&a, 200, "ok");
    wait_health(&b, 200, "ok");

    let publisher = Publisher::start(vec![a.addr(), b.addr()], "f");
    publisher.wait_for("30 acknowledged publishes", |p| p.acked().len() >= 30);
    let new_primary = cluster.kill_primary();
    let acked_at_kill = publisher.acked().len();
    publisher.wait_for("30 acknowledged publishes after the failover", |p| {
        p.acked().len() >= acked_at_kill + 30
    });
    let results = publisher.finish();

    let mut acked = Vec::new();
    let mut unknown = HashSet::new();
    let mut refused = HashSet::new();
    for (id, status, body) in &results {
        match status {
            200 => {
                assert_eq!(body, id);
                acked.push(id.clone());
            }
            503 if body.contains("outcome is unknown") => {
                assert!(body.contains(&format!("same id ({id})")), "{body}");
                unknown.insert(id.as_str());
            }
            503 => {
                assert!(body.contains("not stored"), "a 503 says why: {body:?}");
                refused.insert(id.as_str());
            }
            other => panic!("publish {id}: status {other} ({body:?}); only 200 or 503 is allowed"),
        }
    }
    assert!(
        !refused.is_empty() || !unknown.is_empty(),
        "some publishes met the failover"
    );
    let last = acked.last().expect("acknowledged publishes").clone();
    let mut orders = Vec::new();
    for (name, sub) in [("A", &mut on_a), ("B", &mut on_b)] {
        sub.until(&last);
        assert_no_duplicates(&sub.seen, name);
        // Updates in doubt (and, as after a Redis restart, a publish whose
        // answer was lost) may appear; every acknowledged one must, once,
        // in publish order.
        let delivered: Vec<String> = sub
            .seen
            .iter()
            .filter(|id| !unknown.contains(id.as_str()) && !refused.contains(id.as_str()))
            .cloned()
            .collect();
        assert_eq!(delivered, acked, "subscriber on {name}");
        orders.push(sub.seen.clone());
    }
    // One order on every node, in-doubt updates included.
    let common: HashSet<&String> = orders[0]
        .iter()
        .filter(|id| orders[1].contains(id))
        .collect();
    let in_order = |seen: &Vec<String>| -> Vec<String> {
        seen.iter()
            .filter(|id| common.contains(id))
            .cloned()
            .collect()
    };
    assert_eq!(
        in_order(&orders[0]),
        in_order(&orders[1]),
        "A and B in one order"
    );

    // The history (on the new primary) holds every acknowledged update.
    let mut history = Subscriber::open(&a, Some("earliest"));
    history.until(&last);
    let kept: HashSet<&String> = history.seen.iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !kept.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let stream_len = redis_cmd(new_primary, &["XLEN", "fo:stream"]).expect("XLEN");
    eprintln!(
        "failover (replica wait on): {} publishes, {} acknowledged, {} outcome unknown, {} refused \
         not stored, 0 acknowledged lost; new primary stream {}",
        results.len(),
        acked.len(),
        unknown.len(),
        refused.len(),
        stream_len.trim()
    );
}

/// Sends `signal` (`STOP`, `CONT`) to every replica of `cluster`.
fn signal_replicas(cluster: &Cluster, signal: &str) {
    for r in &cluster.replicas {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &r.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} a replica");
    }
}

/// What one failover without the replica wait cost.
struct Loss {
    publishes: usize,
    acked: usize,
    lost: Vec<String>,
    /// Acknowledged while the replication link was cut (0 without a cut).
    acked_during_cut: usize,
}

/// Sentinel failover under load with `replicas=0`: two nodes publish
/// while the primary is SIGKILLed and Sentinel promotes a replica; the
/// acknowledged updates missing from the new primary's history are the
/// loss. With `cut_link`, the replicas are first stopped (SIGSTOP) and
/// their replication connections killed on the primary (`CLIENT KILL TYPE
/// replica`), so what is acknowledged from then on reaches no replica;
/// the primary is SIGKILLed after 30 such publishes and the replicas
/// resumed (SIGCONT), to be promoted without those updates.
///
/// Checked, whatever the loss: every answer is 200 or 503, the history
/// holds no update twice and keeps what it holds in publish order, and
/// every update published after the failover is kept. With the cut, only
/// updates acknowledged after the cut began are lost.
fn failover_without_the_replica_wait(name: &str, cut_link: bool) -> Option<Loss> {
    let mut cluster = Cluster::start(name)?;
    let dir = temp_dir(&format!("{name}-nodes"));
    let store = cluster.url("prefix=nw&replicas=0");
    let (a, b) = (Node::start(&store, &dir), Node::start(&store, &dir));
    wait_health(&a, 200, "ok");
    wait_health(&b, 200, "ok");

    let publisher = Publisher::start(vec![a.addr(), b.addr()], "n");
    publisher.wait_for("30 acknowledged publishes", |p| p.acked().len() >= 30);
    let mut answers_before_cut = usize::MAX;
    let mut acked_before_cut = 0;
    if cut_link {
        let primary = cluster.primary.as_ref().expect("a primary").port;
        signal_replicas(&cluster, "STOP");
        answers_before_cut = publisher.results.lock().expect("results").len();
        acked_before_cut = publisher.acked().len();
        let killed =
            redis_cmd(primary, &["CLIENT", "KILL", "TYPE", "replica"]).expect("CLIENT KILL");
        assert_eq!(killed.trim(), ":2", "both replication links cut");
        publisher.wait_for("30 acknowledged publishes with the link cut", |p| {
            p.acked().len() >= acked_before_cut + 30
        });
    }
    let old = cluster.primary.take().expect("a primary").port;
    let acked_at_kill = publisher.acked().len();
    if cut_link {
        signal_replicas(&cluster, "CONT");
    }
    let new_primary = cluster.await_promotion(old);
    publisher.wait_for("30 acknowledged publishes after the failover", |p| {
        p.acked().len() >= acked_at_kill + 30
    });
    let results = publisher.finish();

    let mut acked = Vec::new();
    for (id, status, body) in &results {
        match status {
            200 => {
                assert_eq!(body, id);
                acked.push(id.clone());
            }
            503 => assert!(!body.is_empty(), "a 503 says why"),
            other => panic!("publish {id}: status {other} ({body:?}); only 200 or 503 is allowed"),
        }
    }
    let last = acked.last().expect("acknowledged publishes").clone();
    let mut history = Subscriber::open(&a, Some("earliest"));
    history.until(&last);
    assert_no_duplicates(&history.seen, "the history");
    let kept: HashSet<&String> = history.seen.iter().collect();
    let lost: Vec<String> = acked
        .iter()
        .filter(|id| !kept.contains(id))
        .cloned()
        .collect();
    // Kept updates are in publish order (the ids count up).
    let number = |id: &String| id[1..].parse::<usize>().expect("a published id");
    let order: Vec<usize> = history.seen.iter().map(number).collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "history in publish order: {order:?}"
    );
    // What was acknowledged after the SIGKILL is on the new primary and
    // kept (but the first: its answer may have left the old primary just
    // before it died).
    let after: Vec<&String> = acked[acked_at_kill + 1..]
        .iter()
        .filter(|id| !kept.contains(id))
        .collect();
    assert!(after.is_empty(), "lost after the failover: {after:?}");
    if cut_link {
        // Nothing acknowledged before the cut began is lost: it was on
        // the replicas' sockets before their links were killed.
        let early: Vec<&String> = results[..answers_before_cut]
            .iter()
            .filter(|(id, s, _)| *s == 200 && !kept.contains(id))
            .map(|(id, _, _)| id)
            .collect();
        assert!(
            early.is_empty(),
            "lost although acknowledged before the cut: {early:?}"
        );
    }
    let stream_len = redis_cmd(new_primary, &["XLEN", "nw:stream"]).expect("XLEN");
    eprintln!("new primary stream {}", stream_len.trim());
    Some(Loss {
        publishes: results.len(),
        acked: acked.len(),
        lost,
        acked_during_cut: if cut_link {
            acked_at_kill - acked_before_cut
        } else {
            0
        },
    })
}

/// A measurement, not a guarantee (so `#[ignore]`d; scripts/reliability.sh
/// runs it): a Sentinel failover without the replica wait, the primary
/// SIGKILLed while its replicas are linked. Replication on loopback is
/// fast, so few or no acknowledged updates are lost; the figure is
/// printed.
#[test]
#[ignore = "a measurement of acknowledged updates lost; scripts/reliability.sh runs it"]
fn sentinel_failover_without_the_replica_wait_counts_lost_updates() {
    let Some(loss) = failover_without_the_replica_wait("nowait", false) else {
        return;
    };
    eprintln!(
        "FIGURE failover without the replica wait (links up): {} publishes, {} acknowledged, {} lost {:?}",
        loss.publishes,
        loss.acked,
        loss.lost.len(),
        loss.lost
    );
}

/// A measurement (`#[ignore]`d; scripts/reliability.sh runs it): the
/// replication links cut, 30 updates acknowledged by the primary alone,
/// then the primary SIGKILLed and a replica promoted. Those updates are
/// lost, and the count says so: at least all but the one in flight when
/// the links were cut.
#[test]
#[ignore = "a measurement of acknowledged updates lost; scripts/reliability.sh runs it"]
fn sentinel_failover_with_the_replication_link_cut_loses_what_only_the_primary_had() {
    let Some(loss) = failover_without_the_replica_wait("nowait-cut", true) else {
        return;
    };
    eprintln!(
        "FIGURE failover without the replica wait, replication cut first: {} publishes, {} acknowledged \
         ({} while cut), {} acknowledged lost",
        loss.publishes,
        loss.acked,
        loss.acked_during_cut,
        loss.lost.len()
    );
    assert!(
        loss.lost.len() + 1 >= loss.acked_during_cut,
        "{} acknowledged while the links were cut, only {} counted lost",
        loss.acked_during_cut,
        loss.lost.len()
    );
}
