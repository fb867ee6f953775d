//! What the coordinating process and its workers say to each other: one
//! JSON object per line, orders on the worker's stdin, reports on its
//! stdout. Histograms travel in HdrHistogram's V2 format, base64-encoded.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Orders for a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ToWorker {
    /// The first line: what to connect.
    Config(WorkerConfig),
    /// Publishing has started: close and reopen this many subscribers per
    /// second until `Finish`.
    Churn { per_second: f64 },
    /// Publishing is over: wait until every open subscriber has the
    /// `ok_per_topic[topic]` updates its topic got (or the drain timeout),
    /// then report.
    Finish {
        ok_per_topic: Vec<u64>,
        drain_timeout_ms: u64,
    },
}

/// One worker's share of the subscribers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkerConfig {
    pub worker: u64,
    /// Global index of this worker's first subscriber.
    pub first: u64,
    pub count: u64,
    pub topics: u64,
    pub topic_prefix: String,
    pub server: SocketAddr,
    /// Host header value.
    pub authority: String,
    /// Request target template (`{topic}` placeholder).
    pub target: String,
    pub headers: Vec<String>,
    pub sources: Vec<IpAddr>,
    /// Connections per second for this worker.
    pub connect_rate: f64,
    pub connect_concurrency: u64,
    pub connect_timeout_ms: u64,
    /// `--slow-fraction`.
    pub slow_fraction: f64,
    /// `--payload`: sizes the decoder's limits.
    pub payload: usize,
    /// `--slow-resume`.
    #[serde(default)]
    pub slow_resume: bool,
}

/// Counts that move while a worker runs.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct Progress {
    /// Subscribers whose response head was accepted.
    pub connected: u64,
    /// Subscribers that failed to connect.
    pub failed: u64,
    /// Subscribers still open.
    pub open: u64,
    /// Events with a bench payload received.
    pub delivered: u64,
}

/// Reports from a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum FromWorker {
    Progress(Progress),
    /// Every connection attempt has finished (connected or failed).
    Ready(Progress),
    Report(Box<WorkerReport>),
    /// The worker could not run at all.
    Fatal {
        message: String,
    },
}

/// A worker's final figures.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct WorkerReport {
    pub progress: Progress,
    pub connect_errors: BTreeMap<String, u64>,
    pub disconnects: BTreeMap<String, u64>,
    /// Events without a bench payload (keep-alives are comments and do not
    /// count; a welcome event does).
    pub unmatched: u64,
    /// Payloads for a topic other than the subscriber's.
    pub misrouted: u64,
    /// Connected subscribers that do not read (`--slow-fraction`).
    pub slow: u64,
    /// Subscribers closed and reopened by churn, and how often.
    pub churned: u64,
    pub reconnects: u64,
    pub reconnect_errors: BTreeMap<String, u64>,
    pub expected: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub subscribers_with_loss: u64,
    pub subscribers_with_duplicates: u64,
    pub max_lost_per_subscriber: u64,
    /// With `--slow-resume`: the slow subscribers' figures after resuming.
    pub slow_resume: SlowResume,
    /// Receive time (µs since the epoch) of the last payload.
    pub last_delivery_us: Option<u64>,
    /// The worker's VmRSS before connecting and once all attempts ended.
    pub rss_start_kib: Option<u64>,
    pub rss_connected_kib: Option<u64>,
    /// The worker's CPU time from the end of connecting to the report.
    pub cpu_after_connect_seconds: Option<f64>,
    /// Publish-to-receive latency in µs.
    pub latency: String,
    /// Latency by the second (since the epoch) the update was sent.
    pub timeline: Vec<(u64, String)>,
}

/// What the slow subscribers of a `--slow-resume` run got in the end.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SlowResume {
    /// Updates owed to them (all of their topic's).
    pub expected: u64,
    /// Owed updates they never received, even after resuming.
    pub lost: u64,
    pub duplicated: u64,
    pub subscribers_with_loss: u64,
    /// Slow subscribers whose stream the server ended while they were not
    /// reading (a slow-consumer policy at work).
    pub disconnected: u64,
    /// Their reconnections with `Last-Event-ID`, and the failed ones.
    pub reconnects: u64,
    pub reconnect_errors: BTreeMap<String, u64>,
}

pub(crate) fn encode_hist(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    // Serializing into a Vec fails only for histograms too large to encode,
    // which a bounded histogram cannot be; an empty string then reads back as
    // an empty histogram rather than failing the run.
    if V2Serializer::new().serialize(h, &mut buf).is_err() {
        buf.clear();
    }
    base64::engine::general_purpose::STANDARD.encode(buf)
}

pub(crate) fn decode_hist(s: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s)?;
    if bytes.is_empty() {
        return Ok(crate::latency_histogram());
    }
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| anyhow::anyhow!("bad histogram from a worker: {e:?}"))
}
