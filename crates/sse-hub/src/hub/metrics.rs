//! [`Metrics`]: the hub's counters, rendered in the Prometheus text format.
//!
//! A handful of atomics rather than a metrics framework: the set is small
//! and fixed, every update is one relaxed atomic add on a hot path (one per
//! delivery), and the text format is a few lines to write.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the store append latency histogram: from a
/// memory append (microseconds) to a slow disk sync.
const APPEND_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Counters and gauges of one hub. Cheap to update from any thread.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) subscribers: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) publishes: AtomicU64,
    pub(crate) publish_failures: AtomicU64,
    pub(crate) updates_dispatched: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) drops: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) fanout_recoveries: AtomicU64,
    append: Histogram,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; APPEND_BUCKETS.len()],
    count: AtomicU64,
    /// Sum in nanoseconds (an integer, so it can be an atomic add).
    sum_nanos: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    pub(crate) fn add_deliveries(&self, n: u64) {
        if n > 0 {
            self.deliveries.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn observe_append(&self, took: Duration) {
        let secs = took.as_secs_f64();
        // Non-cumulative storage; the renderer accumulates.
        if let Some(i) = APPEND_BUCKETS.iter().position(|&b| secs <= b) {
            inc(&self.append.buckets[i]);
        }
        inc(&self.append.count);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.append.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Open subscriber streams right now.
    pub fn subscribers(&self) -> u64 {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// Subscribers disconnected because their queue was full (they resume
    /// with `Last-Event-ID`).
    pub fn drops(&self) -> u64 {
        self.drops.load(Ordering::Relaxed)
    }

    /// Frames queued to subscribers (one per update per subscriber).
    pub fn deliveries(&self) -> u64 {
        self.deliveries.load(Ordering::Relaxed)
    }

    /// Acknowledged publishes.
    pub fn publishes(&self) -> u64 {
        self.publishes.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        };
        metric(
            "sse_hub_subscribers",
            "gauge",
            "Open subscriber streams.",
            get(&self.subscribers),
        );
        metric(
            "sse_hub_connections_total",
            "counter",
            "Subscriber streams opened.",
            get(&self.connections_total),
        );
        metric(
            "sse_hub_connections_refused_total",
            "counter",
            "Subscribe requests refused because the connection limit was reached.",
            get(&self.connections_refused),
        );
        metric(
            "sse_hub_publishes_total",
            "counter",
            "Updates acknowledged to publishers (durable in the store).",
            get(&self.publishes),
        );
        metric(
            "sse_hub_publish_failures_total",
            "counter",
            "Publishes answered 503 because the store was busy, closed or failing.",
            get(&self.publish_failures),
        );
        metric(
            "sse_hub_updates_dispatched_total",
            "counter",
            "Updates taken from the store's live feed by the fan-out.",
            get(&self.updates_dispatched),
        );
        metric(
            "sse_hub_deliveries_total",
            "counter",
            "Update frames queued to subscribers (live and replayed).",
            get(&self.deliveries),
        );
        metric(
            "sse_hub_drops_total",
            "counter",
            "Subscribers disconnected because their queue was full.",
            get(&self.drops),
        );
        metric(
            "sse_hub_disconnects_total",
            "counter",
            "Subscriber streams that ended, for any reason.",
            get(&self.disconnects),
        );
        metric(
            "sse_hub_token_expirations_total",
            "counter",
            "Subscriber streams closed because their token expired.",
            get(&self.expired),
        );
        metric(
            "sse_hub_fanout_recoveries_total",
            "counter",
            "Times the fan-out fell behind the store's live feed and re-read history.",
            get(&self.fanout_recoveries),
        );
        let name = "sse_hub_store_append_seconds";
        let _ = write!(
            out,
            "# HELP {name} Time for the store to make an update durable.\n# TYPE {name} histogram\n"
        );
        let mut cumulative = 0u64;
        for (bound, bucket) in APPEND_BUCKETS.iter().zip(&self.append.buckets) {
            cumulative += get(bucket);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = get(&self.append.count);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = get(&self.append.sum_nanos) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_append(Duration::from_micros(50));
        m.observe_append(Duration::from_millis(3));
        m.observe_append(Duration::from_secs(10));
        let text = m.render();
        assert!(text.contains("sse_hub_store_append_seconds_bucket{le=\"0.0001\"} 1\n"));
        assert!(text.contains("sse_hub_store_append_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("sse_hub_store_append_seconds_bucket{le=\"2.5\"} 2\n"));
        assert!(text.contains("sse_hub_store_append_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("sse_hub_store_append_seconds_count 3\n"));
    }
}
