//! [`Metrics`]: the hub's counters, rendered in the Prometheus text format.
//!
//! A handful of atomics rather than a metrics framework: the set is small
//! and fixed, every update is one relaxed atomic add on a hot path (one per
//! delivery), and the text format is a few lines to write.
//!
//! Besides our `sse_hub_*` names, the page carries the Mercure hub's three
//! (`mercure_subscribers_connected`, `mercure_subscribers_total`,
//! `mercure_updates_total`) with the same meaning, read from the same
//! counters, so dashboards and alerts built for Mercure work unchanged;
//! the standard `process_*` metrics (read from `/proc` at each scrape, on
//! Linux); and `sse_hub_build_info`.
//!
//! | Mercure | ours | meaning |
//! |---|---|---|
//! | `mercure_subscribers_connected` | `sse_hub_subscribers` | open subscriber streams (gauge) |
//! | `mercure_subscribers_total` | `sse_hub_connections_total` | subscriber streams opened (counter) |
//! | `mercure_updates_total` | `sse_hub_publishes_total` | updates published (acknowledged) (counter) |

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
    pub(crate) publish_duplicates: AtomicU64,
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

    /// Acknowledged publishes whose id was already in history (counted in
    /// [`publishes`](Self::publishes) too): nothing was stored or delivered.
    pub fn publish_duplicates(&self) -> u64 {
        self.publish_duplicates.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            write_metric(&mut out, name, kind, help, value);
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
            "sse_hub_publish_duplicates_total",
            "counter",
            "Publishes answered 200 with an id already in history: nothing stored or delivered \
             (retries, most often after an unknown outcome).",
            get(&self.publish_duplicates),
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
        let mercure = [
            (
                "mercure_subscribers_connected",
                "gauge",
                "The current number of running subscribers (= sse_hub_subscribers).",
                get(&self.subscribers),
            ),
            (
                "mercure_subscribers_total",
                "counter",
                "Total number of handled subscribers (= sse_hub_connections_total).",
                get(&self.connections_total),
            ),
            (
                "mercure_updates_total",
                "counter",
                "Total number of handled updates (= sse_hub_publishes_total).",
                get(&self.publishes),
            ),
        ];
        for (name, kind, help, value) in mercure {
            write_metric(&mut out, name, kind, help, value);
        }
        let _ = write!(
            out,
            "# HELP sse_hub_build_info The sse-hub version serving this page (always 1).\n\
             # TYPE sse_hub_build_info gauge\n\
             sse_hub_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        );
        if let Some(process) = ProcessStats::read() {
            process.render(&mut out);
        }
        out
    }
}

fn write_metric(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    value: impl std::fmt::Display,
) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    );
}

/// What the Prometheus client libraries' process collector reports, read
/// from `/proc` at scrape time: a scrape every few seconds costs a few
/// small file reads, and nothing runs between scrapes.
#[derive(Debug, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    open_fds: u64,
    max_fds: Option<u64>,
    start_time_seconds: f64,
}

/// The kernel's clock tick for `/proc` times. The user-visible `USER_HZ`
/// is 100 on every Linux architecture (the ABI fixes it, whatever the
/// kernel's internal HZ), which is what the Go and Python collectors
/// assume too; this spares a `libc` dependency for `sysconf`.
const USER_HZ: f64 = 100.0;

impl ProcessStats {
    /// `None` where `/proc` is missing (not Linux) or unreadable: the
    /// process lines are then left out rather than reported as zero.
    fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        // The directory handle `read_dir` holds is one of the entries.
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()?
            .count()
            .saturating_sub(1) as u64;
        Self::parse(&stat, &status, &boot, &limits, open_fds)
    }

    fn parse(
        stat: &str,
        status: &str,
        boot: &str,
        limits: &str,
        open_fds: u64,
    ) -> Option<ProcessStats> {
        // The command name (field 2) is in parentheses and may hold spaces
        // or parentheses itself: fields are counted after the last `)`.
        let after_name = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // `fields[0]` is field 3 (state): utime is field 14, stime 15,
        // starttime 22.
        let ticks = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
        let cpu_seconds = (ticks(14)? + ticks(15)?) as f64 / USER_HZ;
        let start_ticks = ticks(22)?;
        let btime: u64 = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let kib = |key: &str| -> Option<u64> {
            let line = status.lines().find_map(|l| l.strip_prefix(key))?;
            line.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
                .map(|k| k * 1024)
        };
        let max_fds = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok());
        Some(ProcessStats {
            cpu_seconds,
            resident_bytes: kib("VmRSS:")?,
            virtual_bytes: kib("VmSize:")?,
            open_fds,
            max_fds,
            start_time_seconds: btime as f64 + start_ticks as f64 / USER_HZ,
        })
    }

    fn render(&self, out: &mut String) {
        write_metric(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            self.cpu_seconds,
        );
        write_metric(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            self.resident_bytes,
        );
        write_metric(
            out,
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            self.virtual_bytes,
        );
        write_metric(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            self.open_fds,
        );
        if let Some(max) = self.max_fds {
            write_metric(
                out,
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                max,
            );
        }
        write_metric(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            self.start_time_seconds,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mercure_names_read_the_same_counters_as_ours() {
        let m = Metrics::default();
        m.subscribers.store(3, Ordering::Relaxed);
        m.connections_total.store(7, Ordering::Relaxed);
        m.publishes.store(11, Ordering::Relaxed);
        m.publish_duplicates.store(2, Ordering::Relaxed);
        let text = m.render();
        for line in [
            "sse_hub_subscribers 3\n",
            "mercure_subscribers_connected 3\n",
            "sse_hub_connections_total 7\n",
            "mercure_subscribers_total 7\n",
            "sse_hub_publishes_total 11\n",
            "sse_hub_publish_duplicates_total 2\n",
            "mercure_updates_total 11\n",
            "# TYPE mercure_subscribers_connected gauge\n",
            "# TYPE mercure_updates_total counter\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        let build = format!(
            "sse_hub_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&build), "{text}");
    }

    #[test]
    fn process_stats_are_parsed_from_proc_text() {
        // A command name with a space and a parenthesis, as `(sse (x) y)`.
        let stat = "4242 (sse (x) y) S 1 4242 4242 0 -1 4194560 2000 0 0 0 \
                    250 50 0 0 20 0 9 0 12345 900000000 4000 18446744073709551615";
        let status = "Name:\tsse\nVmSize:\t  878904 kB\nVmRSS:\t   16000 kB\n";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            20000                20000                files\n";
        let p = ProcessStats::parse(stat, status, boot, limits, 12).unwrap();
        assert_eq!(
            p,
            ProcessStats {
                cpu_seconds: 3.0,
                resident_bytes: 16_000 * 1024,
                virtual_bytes: 878_904 * 1024,
                open_fds: 12,
                max_fds: Some(20_000),
                start_time_seconds: 1_700_000_123.45,
            }
        );
        assert_eq!(
            ProcessStats::parse("garbage", status, boot, limits, 1),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reports_its_own_figures() {
        let text = Metrics::default().render();
        for name in [
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            let value: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
                .parse()
                .unwrap();
            assert!(
                value > 0.0 || name == "process_cpu_seconds_total",
                "{name} = {value}"
            );
        }
    }

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
