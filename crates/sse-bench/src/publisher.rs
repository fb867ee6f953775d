//! The fixed-rate publisher.
//!
//! Update `k` is due at `start + k / rate`, whatever happened to the ones
//! before: a publisher that waits for each reply before sending the next
//! measures the server's reply time, not its delivery under a given load,
//! and hides a backlog. Requests run concurrently over a bounded pool of
//! keep-alive connections; when all are busy the schedule slips, and the
//! slip is reported.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::args::PublishSpec;
use crate::http::{io_reason, Conn};
use crate::payload::{self, Stamp};
use crate::template::Encoding;

/// What to publish and how fast.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub rate: f64,
    /// Stop after this many updates; when `None`, after `duration`.
    pub updates: Option<u64>,
    pub duration: Duration,
    pub topics: u64,
    pub topic_prefix: String,
    pub payload: usize,
    pub concurrency: u64,
    pub timeout: Duration,
}

/// Counters the progress line reads while publishing runs.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub sent: Cell<u64>,
    pub errors: Cell<u64>,
}

/// The publisher's results.
#[derive(Debug, Default)]
pub(crate) struct PublishStats {
    pub attempted: u64,
    pub ok: u64,
    pub errors: u64,
    pub ok_per_topic: Vec<u64>,
    pub status_codes: BTreeMap<u16, u64>,
    pub error_reasons: BTreeMap<String, u64>,
    /// Seconds from the first due time to the last send.
    pub seconds: f64,
    /// The largest delay of a send behind its due time, µs.
    pub max_late_us: u64,
    /// Sends more than 5 ms behind their due time.
    pub late_sends: u64,
    /// Sends that found every connection busy and had to wait for one.
    pub blocked_sends: u64,
}

struct Ctx {
    spec: PublishSpec,
    server: SocketAddr,
    schedule: Schedule,
    topic_names: Vec<String>,
    pool: RefCell<Vec<Conn>>,
    stats: RefCell<PublishStats>,
    live: Rc<Live>,
}

impl Ctx {
    fn request(&self, topic: u64, seq: u64) -> Vec<u8> {
        let mut data = String::new();
        let stamp = Stamp {
            topic,
            seq,
            sent_us: crate::now_us(),
        };
        payload::encode(stamp, self.schedule.payload, &mut data);
        let name = &self.topic_names[topic as usize];
        let mut body = String::new();
        self.spec
            .body
            .render(name, &data, self.spec.body_encoding, &mut body);
        let mut head = String::with_capacity(256 + body.len());
        head.push_str(&self.spec.method);
        head.push(' ');
        self.spec
            .url
            .target
            .render(name, &data, Encoding::Url, &mut head);
        head.push_str(" HTTP/1.1\r\nHost: ");
        head.push_str(&self.spec.url.authority);
        head.push_str("\r\n");
        for h in &self.spec.headers {
            h.render(name, &data, Encoding::Raw, &mut head);
            head.push_str("\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        head.push_str(&body);
        head.into_bytes()
    }

    fn failed(&self, reason: String) {
        let mut stats = self.stats.borrow_mut();
        stats.errors += 1;
        *stats.error_reasons.entry(reason).or_default() += 1;
        self.live.errors.set(self.live.errors.get() + 1);
    }
}

/// Publishes on the schedule and returns once every request has finished
/// (or timed out).
pub(crate) async fn publish(
    spec: PublishSpec,
    server: SocketAddr,
    schedule: Schedule,
    live: Rc<Live>,
) -> PublishStats {
    let topics = schedule.topics;
    let ctx = Rc::new(Ctx {
        topic_names: (0..topics)
            .map(|t| format!("{}{t}", schedule.topic_prefix))
            .collect(),
        stats: RefCell::new(PublishStats {
            ok_per_topic: vec![0; topics as usize],
            ..PublishStats::default()
        }),
        pool: RefCell::new(Vec::new()),
        spec,
        server,
        schedule,
        live,
    });
    let s = &ctx.schedule;
    let permits = Arc::new(Semaphore::new(s.concurrency as usize));
    let mut attempted_per_topic = vec![0u64; topics as usize];
    let start = Instant::now();
    // The schedule's length, and a hard stop one request timeout after it:
    // a server that stops answering must not stretch the run without end
    // (updates not sent by then are simply not sent, and not expected).
    let window = match s.updates {
        Some(n) => Duration::from_secs_f64(n as f64 / s.rate),
        None => s.duration,
    };
    let hard_stop = start + window + s.timeout;
    let mut k: u64 = 0;
    loop {
        let offset = Duration::from_secs_f64(k as f64 / s.rate);
        match s.updates {
            Some(n) if k >= n => break,
            None if offset >= s.duration => break,
            _ => {}
        }
        let due = start + offset;
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let blocked = permits.available_permits() == 0;
        let permit = match tokio::time::timeout_at(hard_stop, permits.clone().acquire_owned()).await
        {
            Ok(Ok(permit)) => permit,
            // Out of time (or closed, which never happens).
            Err(_) | Ok(Err(_)) => break,
        };
        if Instant::now() >= hard_stop {
            break;
        }
        let late = Instant::now().saturating_duration_since(due).as_micros() as u64;
        {
            let mut stats = ctx.stats.borrow_mut();
            stats.max_late_us = stats.max_late_us.max(late);
            stats.late_sends += u64::from(late > 5000);
            stats.blocked_sends += u64::from(blocked);
            stats.attempted += 1;
        }
        let topic = k % topics;
        let seq = attempted_per_topic[topic as usize];
        attempted_per_topic[topic as usize] += 1;
        tokio::task::spawn_local(one(ctx.clone(), topic, seq, permit));
        ctx.live.sent.set(ctx.live.sent.get() + 1);
        k += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    // Every request holds a permit until it ends, and each is bounded by
    // four timeouts (connect and exchange, twice with a retry), so this wait
    // is bounded too.
    let all = s.concurrency as u32;
    let _ = tokio::time::timeout(s.timeout * 4, permits.acquire_many(all)).await;
    drop(ctx.pool.borrow_mut().drain(..));
    let mut stats = std::mem::take(&mut *ctx.stats.borrow_mut());
    stats.seconds = seconds;
    stats
}

async fn one(ctx: Rc<Ctx>, topic: u64, seq: u64, _permit: OwnedSemaphorePermit) {
    let timeout = ctx.schedule.timeout;
    let pooled = ctx.pool.borrow_mut().pop();
    let reused = pooled.is_some();
    let mut conn = match pooled {
        Some(c) => c,
        None => match connect(&ctx).await {
            Ok(c) => c,
            Err(reason) => return ctx.failed(reason),
        },
    };
    let request = ctx.request(topic, seq);
    let mut result = tokio::time::timeout(timeout, conn.exchange(&request)).await;
    if reused && matches!(&result, Ok(Err(e)) if e.nothing_received) {
        // The server closed the idle connection before reading this
        // request: send it again on a fresh one.
        conn = match connect(&ctx).await {
            Ok(c) => c,
            Err(reason) => return ctx.failed(reason),
        };
        result = tokio::time::timeout(timeout, conn.exchange(&request)).await;
    }
    match result {
        Ok(Ok((status, reusable))) => {
            let mut stats = ctx.stats.borrow_mut();
            *stats.status_codes.entry(status).or_default() += 1;
            if (200..300).contains(&status) {
                stats.ok += 1;
                stats.ok_per_topic[topic as usize] += 1;
            } else {
                drop(stats);
                ctx.failed(format!("status {status}"));
            }
            if reusable {
                ctx.pool.borrow_mut().push(conn);
            }
        }
        Ok(Err(e)) => ctx.failed(e.reason),
        Err(_) => ctx.failed("timeout".into()),
    }
}

async fn connect(ctx: &Ctx) -> Result<Conn, String> {
    match tokio::time::timeout(ctx.schedule.timeout, Conn::connect(ctx.server)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(io_reason("connect", &e)),
        Err(_) => Err("connect: timeout".into()),
    }
}
