//! A worker process: holds its share of the subscribers and measures what
//! they receive.
//!
//! One thread, one `LocalSet`: per-subscriber state lives in plain
//! `RefCell`s with no locking, and all subscribers read into one shared
//! 16 KiB buffer (nothing awaits while it is borrowed), so an idle
//! subscriber costs its socket, its task and a decoder: a few hundred
//! bytes, which is what lets one process hold 19,000 of them.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use sse_wire::{Decoder, Frame, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::http::{io_reason, parse_head, BodyReader};
use crate::protocol::{
    encode_hist, FromWorker, Progress, SlowResume, ToWorker, WorkerConfig, WorkerReport,
};
use crate::seq::SeqTracker;
use crate::template::{Encoding, Template};
use crate::{latency_histogram, now_us, payload};

/// Receive buffer of a slow subscriber's socket.
const SLOW_RCVBUF: u32 = 4096;

/// One read's worth: many small events per syscall when the server batches.
const READ_BUF: usize = 16 * 1024;

/// Reconnections a resuming slow subscriber makes at most: a server that
/// ends its stream again and again must not keep it busy until the drain
/// timeout.
const MAX_RESUMES: u32 = 5;

/// How often a worker reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Entry point of a worker process: reads its config from stdin, runs, and
/// exits when told to finish or when the coordinator goes away (stdin
/// closes).
pub(crate) fn main() -> anyhow::Result<ExitCode> {
    let mut stdin = std::io::BufReader::new(std::io::stdin());
    let mut line = String::new();
    stdin.read_line(&mut line)?;
    let cfg = match serde_json::from_str::<ToWorker>(&line) {
        Ok(ToWorker::Config(cfg)) => cfg,
        _ => {
            send(&FromWorker::Fatal {
                message: "expected a config line on stdin".into(),
            });
            return Ok(ExitCode::FAILURE);
        }
    };
    crate::raise_nofile_limit();
    let (tx, rx) = mpsc::unbounded_channel();
    // A plain thread for stdin: it blocks, and tokio's stdin would use a
    // blocking-pool thread anyway.
    std::thread::spawn(move || {
        for line in stdin.lines() {
            let msg = line
                .ok()
                .and_then(|l| serde_json::from_str::<ToWorker>(&l).ok());
            let end = msg.is_none();
            if tx.send(msg).is_err() || end {
                return;
            }
        }
        let _ = tx.send(None);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run(cfg, rx));
    Ok(ExitCode::SUCCESS)
}

/// Writes one message to the coordinator. A failed write means it is gone;
/// then there is nobody to report to and the worker ends.
fn send(msg: &FromWorker) {
    let mut line = serde_json::to_string(msg).unwrap_or_default();
    line.push('\n');
    let mut out = std::io::stdout().lock();
    if out
        .write_all(line.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(1);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Open,
    Failed,
    Closed,
    /// Connected, and deliberately not reading.
    Slow,
}

struct SubState {
    status: Status,
    seqs: SeqTracker,
    /// Closed and reopened at least once by `--churn`: its sessions each
    /// miss what was sent while it was away, so it is left out of the loss
    /// and duplicate figures (its deliveries still count, and its latency).
    churned: bool,
    /// Ends the subscriber's current task (and so closes its connection)
    /// when churn picks it.
    task: Option<AbortHandle>,
}

struct Stats {
    progress: Progress,
    connect_errors: BTreeMap<String, u64>,
    disconnects: BTreeMap<String, u64>,
    unmatched: u64,
    misrouted: u64,
    slow: u64,
    reconnects: u64,
    reconnect_errors: BTreeMap<String, u64>,
    last_delivery_us: Option<u64>,
    /// `--slow-resume`: disconnects, reconnects and reconnect errors of the
    /// slow subscribers (their loss is counted at the report).
    slow_resume: SlowResume,
    latency: Histogram<u64>,
    timeline: BTreeMap<u64, Histogram<u64>>,
}

struct Shared {
    cfg: WorkerConfig,
    /// The subscribe request for each topic, built once.
    requests: Vec<Bytes>,
    buf: RefCell<Box<[u8]>>,
    subs: RefCell<Vec<SubState>>,
    stats: RefCell<Stats>,
    attempts_done: Cell<u64>,
    all_attempted: Notify,
    /// Set (and `resume` notified) when publishing is over: slow
    /// subscribers of a `--slow-resume` run start reading.
    resumed: Cell<bool>,
    resume: Notify,
    /// Decoder limits: a broken or hostile server must not make 19,000
    /// subscribers each buffer the default megabytes.
    limits: Limits,
    rss_start_kib: Option<u64>,
    rss_connected_kib: Cell<Option<u64>>,
    cpu_connected: Cell<Option<f64>>,
}

impl Shared {
    fn new(cfg: WorkerConfig) -> Self {
        let target = Template::parse(&cfg.target);
        let has_accept = cfg.headers.iter().any(|h| {
            h.split(':')
                .next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("accept"))
        });
        let requests = (0..cfg.topics)
            .map(|t| {
                let mut req = String::from("GET ");
                target.render(
                    &format!("{}{t}", cfg.topic_prefix),
                    "",
                    Encoding::Url,
                    &mut req,
                );
                req.push_str(" HTTP/1.1\r\nHost: ");
                req.push_str(&cfg.authority);
                req.push_str("\r\n");
                if !has_accept {
                    req.push_str("Accept: text/event-stream\r\n");
                }
                req.push_str("Cache-Control: no-cache\r\n");
                for h in &cfg.headers {
                    req.push_str(h);
                    req.push_str("\r\n");
                }
                req.push_str("\r\n");
                Bytes::from(req)
            })
            .collect();
        let subs = (0..cfg.count)
            .map(|_| SubState {
                status: Status::Pending,
                seqs: SeqTracker::default(),
                churned: false,
                task: None,
            })
            .collect();
        Shared {
            requests,
            buf: RefCell::new(vec![0; READ_BUF].into_boxed_slice()),
            subs: RefCell::new(subs),
            stats: RefCell::new(Stats {
                progress: Progress::default(),
                connect_errors: BTreeMap::new(),
                disconnects: BTreeMap::new(),
                unmatched: 0,
                misrouted: 0,
                slow: 0,
                reconnects: 0,
                reconnect_errors: BTreeMap::new(),
                last_delivery_us: None,
                slow_resume: SlowResume::default(),
                latency: latency_histogram(),
                timeline: BTreeMap::new(),
            }),
            attempts_done: Cell::new(0),
            all_attempted: Notify::new(),
            resumed: Cell::new(false),
            resume: Notify::new(),
            limits: {
                let line = (2 * cfg.payload + 1024).max(64 * 1024);
                Limits::default()
                    .with_max_line(line)
                    .with_max_event(2 * line)
            },
            rss_start_kib: own_rss_kib(),
            rss_connected_kib: Cell::new(None),
            cpu_connected: Cell::new(None),
            cfg,
        }
    }

    /// Whether subscriber `local` plays a consumer that stopped reading:
    /// `slow_fraction` of the subscribers, spread evenly over the indices
    /// (and so over topics and workers).
    fn is_slow(&self, local: u64) -> bool {
        let f = self.cfg.slow_fraction;
        let i = (self.cfg.first + local) as f64;
        f > 0.0 && ((i + 1.0) * f).floor() > (i * f).floor()
    }

    fn topic_of(&self, local: u64) -> u64 {
        (self.cfg.first + local) % self.cfg.topics
    }

    fn attempt_done(&self) {
        self.attempts_done.set(self.attempts_done.get() + 1);
        if self.attempts_done.get() == self.cfg.count {
            self.all_attempted.notify_one();
        }
    }

    fn connect_failed(&self, local: u64, reason: String, reconnect: bool) {
        let mut stats = self.stats.borrow_mut();
        if reconnect {
            // It was connected before: what it missed is its churn's cost,
            // and the failure is reported as a reconnect error.
            self.subs.borrow_mut()[local as usize].status = Status::Closed;
            *stats.reconnect_errors.entry(reason).or_default() += 1;
            return;
        }
        self.subs.borrow_mut()[local as usize].status = Status::Failed;
        stats.progress.failed += 1;
        *stats.connect_errors.entry(reason).or_default() += 1;
        drop(stats);
        self.attempt_done();
    }

    /// A reading subscriber's stream ended for `reason`.
    fn disconnected(&self, local: u64, reason: String) {
        self.subs.borrow_mut()[local as usize].status = Status::Closed;
        let mut stats = self.stats.borrow_mut();
        stats.progress.open -= 1;
        *stats.disconnects.entry(reason).or_default() += 1;
    }

    /// Handles bytes read from subscriber `local`'s socket. `Err` ends the
    /// subscriber with that reason. A resuming slow subscriber (`slow`)
    /// only records which updates it got: its latency would measure how
    /// long it did not read, and its deliveries are not the throughput.
    fn on_bytes(
        &self,
        local: u64,
        body: &mut BodyReader,
        decoder: &mut Decoder,
        bytes: &[u8],
        slow: bool,
    ) -> Result<(), String> {
        let (used, done) = body
            .feed(bytes, |s| decoder.push(s))
            .map_err(|e| e.to_string())?;
        // One clock read per read: every event in it arrived at this moment.
        let now = now_us();
        let topic = self.topic_of(local);
        let mut stats = self.stats.borrow_mut();
        let mut subs = self.subs.borrow_mut();
        let seqs = &mut subs[local as usize].seqs;
        loop {
            match decoder.next_frame() {
                Ok(Some(Frame::Message(m))) => match payload::parse(&m.data) {
                    None => stats.unmatched += 1,
                    Some(s) if s.topic != topic => stats.misrouted += 1,
                    Some(s) if slow => {
                        seqs.record(s.seq);
                    }
                    Some(s) => {
                        seqs.record(s.seq);
                        stats.progress.delivered += 1;
                        let latency = now.saturating_sub(s.sent_us);
                        stats.latency.saturating_record(latency);
                        stats
                            .timeline
                            .entry(s.sent_us / 1_000_000)
                            .or_insert_with(timeline_histogram)
                            .saturating_record(latency);
                        stats.last_delivery_us = Some(now);
                    }
                },
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => return Err(format!("event stream: {e}")),
            }
        }
        if done || used < bytes.len() {
            return Err("response ended".into());
        }
        Ok(())
    }
}

/// Per-second histograms need less precision than the overall one (two
/// significant digits), which keeps a long run's timeline small.
fn timeline_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, crate::MAX_LATENCY_US, 2).expect("constant bounds are valid")
}

async fn run(cfg: WorkerConfig, mut orders: mpsc::UnboundedReceiver<Option<ToWorker>>) {
    let shared = Rc::new(Shared::new(cfg));
    if shared.cfg.count == 0 {
        shared.all_attempted.notify_one();
    }
    tokio::task::spawn_local(drive_connects(shared.clone()));
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let mut ready_sent = false;
    let mut churn: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => send(&FromWorker::Progress(shared.stats.borrow().progress)),
            () = shared.all_attempted.notified(), if !ready_sent => {
                ready_sent = true;
                shared.rss_connected_kib.set(own_rss_kib());
                shared.cpu_connected.set(crate::procfs::cpu_seconds(&[std::process::id()]));
                send(&FromWorker::Ready(shared.stats.borrow().progress));
            }
            order = orders.recv() => match order.flatten() {
                Some(ToWorker::Churn { per_second }) => {
                        if churn.is_none() && per_second > 0.0 {
                            churn = Some(tokio::task::spawn_local(drive_churn(shared.clone(), per_second)));
                        }
                }
                Some(ToWorker::Finish { ok_per_topic, drain_timeout_ms }) => {
                    if let Some(churn) = churn.take() {
                        churn.abort();
                    }
                    shared.resumed.set(true);
                    shared.resume.notify_waiters();
                    drain(&shared, &ok_per_topic, Duration::from_millis(drain_timeout_ms)).await;
                    send(&FromWorker::Report(Box::new(report(&shared, &ok_per_topic))));
                    return;
                }
                Some(ToWorker::Config(_)) => {}
                // The coordinator is gone (or talks nonsense): stop.
                None => return,
            },
        }
    }
}

/// Starts the subscribers at the configured rate, at most
/// `connect_concurrency` connecting at once.
async fn drive_connects(shared: Rc<Shared>) {
    let permits = Arc::new(Semaphore::new(shared.cfg.connect_concurrency as usize));
    let start = Instant::now();
    for local in 0..shared.cfg.count {
        let due = start + Duration::from_secs_f64(local as f64 / shared.cfg.connect_rate);
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return; // never closed
        };
        let task = tokio::task::spawn_local(subscriber(shared.clone(), local, permit, false));
        shared.subs.borrow_mut()[local as usize].task = Some(task.abort_handle());
    }
}

/// Closes and reopens reading subscribers, `per_second` of them, round
/// robin, until aborted (at the end of the publish window).
async fn drive_churn(shared: Rc<Shared>, per_second: f64) {
    let permits = Arc::new(Semaphore::new(shared.cfg.connect_concurrency as usize));
    let start = Instant::now();
    let mut next = 0u64;
    let count = shared.cfg.count;
    for k in 0u64.. {
        let due = start + Duration::from_secs_f64(k as f64 / per_second);
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return; // never closed
        };
        // The next open, reading subscriber after the last one churned.
        let pick = (0..count)
            .map(|i| (next + i) % count)
            .find(|&i| shared.subs.borrow()[i as usize].status == Status::Open);
        let Some(local) = pick else {
            return; // nobody left to churn
        };
        next = local + 1;
        {
            let mut subs = shared.subs.borrow_mut();
            let sub = &mut subs[local as usize];
            if let Some(task) = sub.task.take() {
                task.abort();
            }
            sub.churned = true;
            sub.status = Status::Pending;
            shared.stats.borrow_mut().progress.open -= 1;
        }
        let task = tokio::task::spawn_local(subscriber(shared.clone(), local, permit, true));
        shared.subs.borrow_mut()[local as usize].task = Some(task.abort_handle());
    }
}

/// One subscriber: connect, then read until the stream ends. `reconnect`
/// marks a reopening by churn (counted apart from the first connects).
async fn subscriber(shared: Rc<Shared>, local: u64, permit: OwnedSemaphorePermit, reconnect: bool) {
    let timeout = Duration::from_millis(shared.cfg.connect_timeout_ms);
    // Boxed so that the connect state (head buffer, connect future) is freed
    // once connected instead of sizing every subscriber's task for it.
    let connected = Box::pin(tokio::time::timeout(timeout, connect(&shared, local, None))).await;
    drop(permit);
    let (stream, body, rest) = match connected {
        Ok(Ok(c)) => c,
        Ok(Err(reason)) => return shared.connect_failed(local, reason, reconnect),
        Err(_) => return shared.connect_failed(local, "timeout".into(), reconnect),
    };
    if reconnect {
        shared.subs.borrow_mut()[local as usize].status = Status::Open;
        {
            let mut stats = shared.stats.borrow_mut();
            stats.reconnects += 1;
            stats.progress.open += 1;
        }
        let mut decoder = Decoder::with_limits(shared.limits);
        let reason = read_loop(&shared, local, stream, body, rest, &mut decoder, false).await;
        return shared.disconnected(local, reason);
    }
    let slow = shared.is_slow(local);
    shared.subs.borrow_mut()[local as usize].status =
        if slow { Status::Slow } else { Status::Open };
    {
        let mut stats = shared.stats.borrow_mut();
        stats.progress.connected += 1;
        if slow {
            stats.slow += 1;
        } else {
            stats.progress.open += 1;
        }
    }
    shared.attempt_done();
    if slow {
        // A consumer that stopped reading: hold the connection, read
        // nothing, until the worker ends (or, with --slow-resume, until
        // publishing is over).
        if !shared.cfg.slow_resume {
            let _hold = (stream, body, rest);
            return std::future::pending().await;
        }
        // Created before the flag is checked, so a notification in
        // between is not missed.
        let resume = shared.resume.notified();
        if !shared.resumed.get() {
            resume.await;
        }
        return resume_slow(&shared, local, (stream, body, rest)).await;
    }
    let mut decoder = Decoder::with_limits(shared.limits);
    let reason = read_loop(&shared, local, stream, body, rest, &mut decoder, false).await;
    shared.disconnected(local, reason);
}

/// A slow subscriber reading again: what the server still had for it,
/// then, if the server ended its stream, a reconnection with the last id
/// it received, as a browser's EventSource would do.
async fn resume_slow(shared: &Shared, local: u64, first: (TcpStream, BodyReader, Vec<u8>)) {
    let timeout = Duration::from_millis(shared.cfg.connect_timeout_ms);
    let mut decoder = Decoder::with_limits(shared.limits);
    let (mut stream, mut body, mut rest) = first;
    for attempt in 0..=MAX_RESUMES {
        // Only returns when the stream ended; otherwise the worker's end
        // stops it.
        let _reason = read_loop(shared, local, stream, body, rest, &mut decoder, true).await;
        if attempt == 0 {
            shared.stats.borrow_mut().slow_resume.disconnected += 1;
        }
        if attempt == MAX_RESUMES {
            return;
        }
        let id = decoder.last_event_id().to_string();
        decoder = Decoder::with_limits(shared.limits).with_last_event_id(id.as_str());
        let connected = Box::pin(tokio::time::timeout(
            timeout,
            connect(shared, local, Some(&id)),
        ))
        .await;
        let mut stats = shared.stats.borrow_mut();
        (stream, body, rest) = match connected {
            Ok(Ok(c)) => {
                stats.slow_resume.reconnects += 1;
                c
            }
            Ok(Err(reason)) => {
                *stats
                    .slow_resume
                    .reconnect_errors
                    .entry(reason)
                    .or_default() += 1;
                return;
            }
            Err(_) => {
                *stats
                    .slow_resume
                    .reconnect_errors
                    .entry("timeout".into())
                    .or_default() += 1;
                return;
            }
        };
    }
}

/// Connects subscriber `local` and reads its response head. Returns the
/// stream, how its body is framed, and the body bytes read with the head.
/// `resume` is a slow subscriber's reconnection, with the last event id it
/// received (sent as `Last-Event-ID` unless empty).
async fn connect(
    shared: &Shared,
    local: u64,
    resume: Option<&str>,
) -> Result<(TcpStream, BodyReader, Vec<u8>), String> {
    let cfg = &shared.cfg;
    let global = cfg.first + local;
    let server = cfg.server;
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| io_reason("socket", &e))?;
    if shared.is_slow(local) && resume.is_none() {
        // A small receive window makes the server see the backlog after a
        // few events instead of after megabytes of kernel buffer.
        let _ = socket.set_recv_buffer_size(SLOW_RCVBUF);
    }
    if !cfg.sources.is_empty() {
        let source = cfg.sources[(global % cfg.sources.len() as u64) as usize];
        bind_address_no_port(&socket);
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| io_reason("bind", &e))?;
    }
    let mut stream = socket
        .connect(server)
        .await
        .map_err(|e| io_reason("connect", &e))?;
    // Events are small and should not wait for Nagle; only matters for the
    // request, but costs nothing.
    let _ = stream.set_nodelay(true);
    let request = &shared.requests[shared.topic_of(local) as usize];
    let request = match resume {
        // The request ends with its blank line; the header goes before it.
        // Ids come from the decoder, which never lets CR or LF into one.
        Some(id) if !id.is_empty() => {
            let mut r = request[..request.len() - 2].to_vec();
            r.extend_from_slice(format!("Last-Event-ID: {id}\r\n\r\n").as_bytes());
            Bytes::from(r)
        }
        _ => request.clone(),
    };
    stream
        .write_all(&request)
        .await
        .map_err(|e| io_reason("write", &e))?;
    let mut head = Vec::with_capacity(1024);
    loop {
        head.reserve(1024);
        match stream.read_buf(&mut head).await {
            Ok(0) => return Err("closed before response head".into()),
            Ok(_) => {}
            Err(e) => return Err(io_reason("read", &e)),
        }
        let Some((h, len)) = parse_head(&head)? else {
            continue;
        };
        if h.status != 200 {
            return Err(format!("status {}", h.status));
        }
        match h.content_type.as_deref() {
            Some("text/event-stream") => {}
            Some(other) => return Err(format!("content-type {other}")),
            None => return Err("no content-type".into()),
        }
        return Ok((stream, h.body, head[len..].to_vec()));
    }
}

/// Reads a subscriber's stream until it ends; returns why it ended.
/// `slow`: a resuming slow subscriber (see [`Shared::on_bytes`]).
async fn read_loop(
    shared: &Shared,
    local: u64,
    stream: TcpStream,
    mut body: BodyReader,
    rest: Vec<u8>,
    decoder: &mut Decoder,
    slow: bool,
) -> String {
    if let Err(reason) = shared.on_bytes(local, &mut body, decoder, &rest, slow) {
        return reason;
    }
    drop(rest);
    loop {
        if let Err(e) = stream.readable().await {
            return io_reason("read", &e);
        }
        let mut buf = shared.buf.borrow_mut();
        let result = match stream.try_read(&mut buf) {
            Ok(0) => return "closed by server".into(),
            Ok(n) => shared.on_bytes(local, &mut body, decoder, &buf[..n], slow),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => return io_reason("read", &e),
        };
        drop(buf);
        if let Err(reason) = result {
            return reason;
        }
    }
}

/// Lets the kernel choose the source port at `connect` (per destination)
/// rather than at `bind` (per address): without it, binding to a source
/// address caps all connections from it at one ephemeral port range in
/// total, whatever the destinations.
#[cfg(target_os = "linux")]
fn bind_address_no_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket fd and a pointer to a c_int of the given size;
    // failure leaves the socket as it was (it is only an optimization).
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn bind_address_no_port(_socket: &TcpSocket) {}

/// Waits until every open subscriber has all of its topic's updates, or
/// the timeout.
async fn drain(shared: &Shared, ok_per_topic: &[u64], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let resuming = shared.cfg.slow_resume;
        let complete = shared.subs.borrow().iter().enumerate().all(|(i, s)| {
            let waits = s.status == Status::Open || (resuming && s.status == Status::Slow);
            !waits
                || s.churned
                || s.seqs.distinct() >= expected(ok_per_topic, shared.topic_of(i as u64))
        });
        if complete || Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline.min(Instant::now() + Duration::from_millis(10))).await;
    }
}

fn own_rss_kib() -> Option<u64> {
    crate::procfs::rss_kib(&[std::process::id()])
}

fn expected(ok_per_topic: &[u64], topic: u64) -> u64 {
    ok_per_topic.get(topic as usize).copied().unwrap_or(0)
}

fn report(shared: &Shared, ok_per_topic: &[u64]) -> WorkerReport {
    let stats = shared.stats.borrow();
    let mut r = WorkerReport {
        progress: stats.progress,
        connect_errors: stats.connect_errors.clone(),
        disconnects: stats.disconnects.clone(),
        unmatched: stats.unmatched,
        misrouted: stats.misrouted,
        slow: stats.slow,
        reconnects: stats.reconnects,
        reconnect_errors: stats.reconnect_errors.clone(),
        last_delivery_us: stats.last_delivery_us,
        slow_resume: stats.slow_resume.clone(),
        rss_start_kib: shared.rss_start_kib,
        rss_connected_kib: shared.rss_connected_kib.get(),
        cpu_after_connect_seconds: shared
            .cpu_connected
            .get()
            .zip(crate::procfs::cpu_seconds(&[std::process::id()]))
            .map(|(a, b)| b - a),
        latency: encode_hist(&stats.latency),
        timeline: stats
            .timeline
            .iter()
            .map(|(s, h)| (*s, encode_hist(h)))
            .collect(),
        ..WorkerReport::default()
    };
    for (i, s) in shared.subs.borrow().iter().enumerate() {
        if s.churned {
            r.churned += 1;
            continue;
        }
        if s.status == Status::Slow && shared.cfg.slow_resume {
            let want = expected(ok_per_topic, shared.topic_of(i as u64));
            let lost = s.seqs.lost(want);
            let slow = &mut r.slow_resume;
            slow.expected += want;
            slow.lost += lost;
            slow.duplicated += s.seqs.duplicates();
            slow.subscribers_with_loss += u64::from(lost > 0);
            continue;
        }
        if matches!(s.status, Status::Pending | Status::Failed | Status::Slow) {
            // Never connected (nothing was owed to it), or not reading on
            // purpose (its figures would only measure that).
            continue;
        }
        let want = expected(ok_per_topic, shared.topic_of(i as u64));
        let lost = s.seqs.lost(want);
        r.expected += want;
        r.lost += lost;
        r.duplicated += s.seqs.duplicates();
        r.subscribers_with_loss += u64::from(lost > 0);
        r.subscribers_with_duplicates += u64::from(s.seqs.duplicates() > 0);
        r.max_lost_per_subscriber = r.max_lost_per_subscriber.max(lost);
    }
    r
}
