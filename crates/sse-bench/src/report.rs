//! The summary of a run: the JSON document (`--json`), the table, the SVG.
//!
//! The JSON field names are a stable interface (scripts such as
//! `bench/compare.sh` read them): fields may be added, never renamed or
//! removed without bumping [`SCHEMA`]. Times are in the unit their name
//! says; counts are plain integers; a section that was not measured is
//! `null`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::args::Target;

/// Version of the JSON summary's shape.
pub const SCHEMA: u32 = 1;

/// Everything a run measured. Serialized as the `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// [`SCHEMA`].
    pub schema: u32,
    /// `"mercure"`, `"nchan"` or `"custom"`.
    pub target: Target,
    /// `"publish"`, or `"hold"` for an idle-hold run.
    pub mode: &'static str,
    /// Subscribers requested.
    pub subscribers: u64,
    /// Worker processes.
    pub workers: u64,
    /// Topics.
    pub topics: u64,
    /// Source addresses subscribers were bound to (empty: chosen by the
    /// kernel).
    pub source_addrs: Vec<String>,
    /// Bytes of data per update.
    pub payload_bytes: usize,
    /// Connecting the subscribers.
    pub connect: ConnectSummary,
    /// Publishing (`null` in hold mode).
    pub publish: Option<PublishSummary>,
    /// What the subscribers received.
    pub delivery: DeliverySummary,
    /// `--slow-resume`: what the slow subscribers got after reading again
    /// (`null` without it or without slow subscribers).
    pub slow_resume: Option<SlowResumeSummary>,
    /// Publish-to-receive latency over all deliveries (`null` when none).
    pub latency_us: Option<LatencySummary>,
    /// Server cost (`null` without `--server-pid`).
    pub server: Option<ServerSummary>,
    /// The worker processes' own memory.
    pub generator: GeneratorSummary,
    /// Latency by the second the update was sent, from the first publish.
    pub timeline: Vec<TimelinePoint>,
    /// No connect error, publish error, loss, duplicate, misrouted event or
    /// disconnect. The exit status is 0 exactly when this is true.
    pub clean: bool,
}

/// Connecting the subscribers.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectSummary {
    /// Subscribers whose response was 200 with `text/event-stream`.
    pub connected: u64,
    /// Subscribers that failed to connect.
    pub failed: u64,
    /// From the first connect to the last one finishing, seconds.
    pub seconds: f64,
    /// Failures by reason (`"status 404"`, `"connect: connection refused"`,
    /// `"content-type text/html"`, `"timeout"`, …).
    pub errors: BTreeMap<String, u64>,
    /// Reopenings by `--churn` that succeeded.
    pub reconnects: u64,
    /// Reopenings by `--churn` that failed, by reason.
    pub reconnect_errors: BTreeMap<String, u64>,
}

/// Publishing.
#[derive(Debug, Clone, Serialize)]
pub struct PublishSummary {
    /// `--rate`, updates per second.
    pub rate_target: f64,
    /// Updates sent divided by the publish window.
    pub rate_achieved: f64,
    /// Updates sent.
    pub attempted: u64,
    /// Answered with a 2xx status.
    pub ok: u64,
    /// Not answered with 2xx (status or transport error).
    pub errors: u64,
    /// Publish window, seconds.
    pub seconds: f64,
    /// Responses by status code (keys are the codes as strings).
    pub status_codes: BTreeMap<String, u64>,
    /// Errors by reason (`"status 500"`, `"timeout"`, …).
    pub error_reasons: BTreeMap<String, u64>,
    /// The largest delay of a send behind its schedule, ms (all
    /// `--publish-concurrency` requests were in flight).
    pub max_late_ms: f64,
    /// Sends more than 5 ms behind schedule (timer granularity alone
    /// makes a few of these).
    pub late_sends: u64,
    /// Sends that had to wait because all `--publish-concurrency` requests
    /// were in flight: the schedule was not held, raise the concurrency.
    pub blocked_sends: u64,
}

/// The load generator's own memory, to check that it is not the limit.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratorSummary {
    /// VmRSS of all worker processes once their subscribers were
    /// connected, KiB.
    pub rss_kib: Option<u64>,
    /// Growth of the workers' VmRSS while connecting, per connected
    /// subscriber, bytes.
    pub rss_per_subscriber_bytes: Option<f64>,
    /// CPU time of all worker processes from the end of connecting to their
    /// report (the publish window and the drain), seconds. Near the window's
    /// length times the number of workers means the generator was busy all
    /// along and may be the bottleneck.
    pub cpu_seconds: Option<f64>,
}

/// What the subscribers received.
#[derive(Debug, Clone, Serialize)]
pub struct DeliverySummary {
    /// Sum over connected subscribers of the updates published (2xx) to
    /// their topic.
    pub expected: u64,
    /// Bench events received, duplicates included.
    pub delivered: u64,
    /// Expected updates never received (by sequence number).
    pub lost: u64,
    /// Extra copies of updates already received.
    pub duplicated: u64,
    /// Subscribers that missed at least one update.
    pub subscribers_with_loss: u64,
    /// Subscribers that received at least one update twice.
    pub subscribers_with_duplicates: u64,
    /// The most updates one subscriber missed.
    pub max_lost_per_subscriber: u64,
    /// Events without a bench payload (welcome events, other publishers').
    pub unmatched: u64,
    /// Bench events for a topic the subscriber did not subscribe to.
    pub misrouted: u64,
    /// Subscribers that stopped reading on purpose (`--slow-fraction`);
    /// they are left out of every other figure in this section and of the
    /// latency.
    pub slow_subscribers: u64,
    /// Subscribers closed and reopened by `--churn`; left out of
    /// `expected`, `lost` and `duplicated` (their deliveries and latency
    /// count).
    pub churned_subscribers: u64,
    /// Reading subscribers still connected at the end.
    pub still_open: u64,
    /// Subscribers that lost their connection, by reason.
    pub disconnects: BTreeMap<String, u64>,
    /// From the first publish to the last delivery, seconds.
    pub seconds: f64,
    /// `delivered / seconds`.
    pub deliveries_per_second: f64,
}

/// The slow subscribers of a `--slow-resume` run: they stopped reading
/// while updates were published, then read again (reconnecting with
/// `Last-Event-ID` where the server had ended their stream).
#[derive(Debug, Clone, Serialize)]
pub struct SlowResumeSummary {
    /// Slow subscribers.
    pub subscribers: u64,
    /// Those whose stream the server ended while they were not reading.
    pub disconnected: u64,
    /// Reconnections with `Last-Event-ID` that got a stream.
    pub reconnects: u64,
    /// Reconnections that failed, by reason.
    pub reconnect_errors: BTreeMap<String, u64>,
    /// Updates owed to them: every update of their topic.
    pub expected: u64,
    /// Owed updates never received, even after resuming.
    pub lost: u64,
    /// Extra copies received.
    pub duplicated: u64,
    /// Slow subscribers that missed at least one update.
    pub subscribers_with_loss: u64,
}

/// Latency percentiles, µs.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    /// Deliveries measured.
    pub samples: u64,
    /// Smallest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl LatencySummary {
    /// Reads the percentiles of a histogram of µs; `None` when empty.
    pub fn from_histogram(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| LatencySummary {
            samples: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        })
    }
}

/// Server cost, from `/proc` of `--server-pid`.
#[derive(Debug, Clone, Serialize)]
pub struct ServerSummary {
    /// The processes measured (figures are sums over them).
    pub pids: Vec<u32>,
    /// VmRSS before the first subscriber connected, KiB.
    pub rss_before_kib: Option<u64>,
    /// VmRSS once all subscribers were connected, KiB.
    pub rss_connected_kib: Option<u64>,
    /// VmRSS at the end (after publishing, or after holding), KiB.
    pub rss_end_kib: Option<u64>,
    /// The largest VmRSS sampled while publishing (once a second and at
    /// the end of the window), KiB; `null` in hold mode.
    pub rss_publish_peak_kib: Option<u64>,
    /// `(rss_connected − rss_before) / connected`, bytes.
    pub rss_per_subscriber_bytes: Option<f64>,
    /// CPU time (user + system) from the first publish to the end of the
    /// drain, seconds.
    pub cpu_seconds: Option<f64>,
    /// `cpu_seconds / delivered`, µs.
    pub cpu_us_per_delivery: Option<f64>,
}

/// Latency of the updates sent in one second.
#[derive(Debug, Clone, Serialize)]
pub struct TimelinePoint {
    /// Seconds since the first publish (the second the updates were sent).
    pub second: i64,
    /// Deliveries of updates sent in that second.
    pub samples: u64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
}

fn ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

fn counts<K: std::fmt::Display>(m: &BTreeMap<K, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} ×{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Summary {
    /// The human-readable summary table.
    pub fn to_table(&self) -> String {
        let mut t = String::new();
        let c = &self.connect;
        let d = &self.delivery;
        let _ = writeln!(
            t,
            "sse bench: {} subscribers on {} topic(s), {} worker(s), {} target, {} mode",
            self.subscribers,
            self.topics,
            self.workers,
            serde_json::to_value(self.target)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            self.mode
        );
        let _ = writeln!(
            t,
            "  connect     {} connected, {} failed in {:.2} s{}",
            c.connected,
            c.failed,
            c.seconds,
            if c.errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", counts(&c.errors))
            }
        );
        if let Some(p) = &self.publish {
            let _ = writeln!(
                t,
                "  publish     {} sent in {:.2} s ({:.1}/s of {:.1}/s), {} ok, {} errors; status {}{}",
                p.attempted,
                p.seconds,
                p.rate_achieved,
                p.rate_target,
                p.ok,
                p.errors,
                counts(&p.status_codes),
                if p.error_reasons.is_empty() { String::new() } else { format!(" ({})", counts(&p.error_reasons)) }
            );
            if p.blocked_sends > 0 {
                let _ = writeln!(
                    t,
                    "              {} sends waited for a free connection (max {:.1} ms behind schedule): raise --publish-concurrency",
                    p.blocked_sends, p.max_late_ms
                );
            }
            let _ = writeln!(
                t,
                "  delivery    {} of {} expected received: {} lost ({} subscribers), {} duplicated ({} subscribers), {} misrouted, {} unmatched",
                d.expected.saturating_sub(d.lost), d.expected, d.lost, d.subscribers_with_loss, d.duplicated, d.subscribers_with_duplicates, d.misrouted, d.unmatched
            );
            let _ = writeln!(
                t,
                "  throughput  {} deliveries in all, {:.0}/s over {:.2} s",
                d.delivered, d.deliveries_per_second, d.seconds
            );
        }
        let _ = writeln!(
            t,
            "  open        {} at the end{}",
            d.still_open,
            if d.disconnects.is_empty() {
                String::new()
            } else {
                format!("; disconnects: {}", counts(&d.disconnects))
            }
        );
        if c.reconnects > 0 || !c.reconnect_errors.is_empty() {
            let _ = writeln!(
                t,
                "  churn       {} reconnects over {} subscribers (left out of loss/duplicates), {} failed{}",
                c.reconnects,
                d.churned_subscribers,
                c.reconnect_errors.values().sum::<u64>(),
                if c.reconnect_errors.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", counts(&c.reconnect_errors))
                }
            );
        }
        if d.slow_subscribers > 0 {
            let _ = writeln!(
                t,
                "  slow        {} subscribers not reading (left out of the figures above and below)",
                d.slow_subscribers
            );
        }
        if let Some(r) = &self.slow_resume {
            let _ = writeln!(
                t,
                "  resumed     {} slow subscribers: {} disconnected by the server, {} reconnects ({} failed); {} of {} owed updates lost after resuming ({} subscribers), {} duplicated",
                r.subscribers,
                r.disconnected,
                r.reconnects,
                r.reconnect_errors.values().sum::<u64>(),
                r.lost,
                r.expected,
                r.subscribers_with_loss,
                r.duplicated
            );
        }
        if let Some(l) = &self.latency_us {
            let _ = writeln!(
                t,
                "  latency     p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  ({} samples)",
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.p999),
                ms(l.max),
                l.samples
            );
        }
        if let Some(b) = self.generator.rss_per_subscriber_bytes {
            let _ = write!(
                t,
                "  generator   {:.2} KB RSS per subscriber in the workers",
                b / 1000.0
            );
            if let Some(cpu) = self
                .generator
                .cpu_seconds
                .filter(|_| self.publish.is_some())
            {
                let _ = write!(t, "; CPU {cpu:.2} s after connecting");
            }
            t.push('\n');
        }
        if let Some(s) = &self.server {
            let kib =
                |v: Option<u64>| v.map_or("?".into(), |v| format!("{:.1} MiB", v as f64 / 1024.0));
            let _ = write!(
                t,
                "  server      pid {:?}: RSS {} → {} → {}",
                s.pids,
                kib(s.rss_before_kib),
                kib(s.rss_connected_kib),
                kib(s.rss_end_kib)
            );
            if let Some(b) = s.rss_per_subscriber_bytes {
                let _ = write!(t, ", {:.2} KB per subscriber", b / 1000.0);
            }
            if let (Some(cpu), Some(per)) = (s.cpu_seconds, s.cpu_us_per_delivery) {
                let _ = write!(t, "; CPU {cpu:.2} s, {per:.2} µs per delivery");
            }
            t.push('\n');
        }
        t
    }
}

/// Draws latency over time (p50 and p99 per second) and the percentile
/// curve of the whole run, as a standalone SVG document.
pub fn svg(summary: &Summary, latency: &Histogram<u64>) -> String {
    const W: f64 = 800.0;
    const PANEL_H: f64 = 260.0;
    const LEFT: f64 = 80.0;
    const RIGHT: f64 = 40.0;
    let plot_w = W - LEFT - RIGHT;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{}" viewBox="0 0 {W} {}" font-family="sans-serif" font-size="12">"#,
        2.0 * PANEL_H + 80.0,
        2.0 * PANEL_H + 80.0
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);

    // A panel: frame, title, y ticks (ms), x ticks given by the caller.
    let panel = |s: &mut String,
                 top: f64,
                 title: &str,
                 y_max_ms: f64,
                 x_ticks: &[(f64, String)]| {
        let h = PANEL_H - 50.0;
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"#,
            top + 15.0,
            escape(title)
        );
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{}" width="{plot_w}" height="{h}" fill="none" stroke="#888"/>"##,
            top + 25.0
        );
        for i in 0..=4 {
            let v = y_max_ms * i as f64 / 4.0;
            let y = top + 25.0 + h - h * i as f64 / 4.0;
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + plot_w,
                LEFT - 5.0,
                y + 4.0,
                axis_label(v, y_max_ms)
            );
        }
        for (x, label) in x_ticks {
            let px = LEFT + plot_w * x;
            let _ = writeln!(
                s,
                r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                top + 25.0 + h + 15.0,
                escape(label)
            );
        }
    };
    let polyline = |s: &mut String, top: f64, points: &[(f64, f64)], y_max_ms: f64, color: &str| {
        let h = PANEL_H - 50.0;
        let pts: Vec<String> = points
            .iter()
            .map(|(x, v)| {
                let y = top + 25.0 + h - h * (v / y_max_ms).min(1.0);
                format!("{:.1},{:.1}", LEFT + plot_w * x, y)
            })
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
            pts.join(" ")
        );
    };

    // Panel 1: latency over time.
    let tl = &summary.timeline;
    let last = tl.last().map_or(1, |p| p.second.max(1)) as f64;
    let y1 = nice_max(tl.iter().map(|p| p.p99_us).max().unwrap_or(0) as f64 / 1000.0);
    let ticks: Vec<(f64, String)> = (0..=5)
        .map(|i| (i as f64 / 5.0, format!("{:.0} s", last * i as f64 / 5.0)))
        .collect();
    panel(
        &mut s,
        10.0,
        "Latency over time (by send second): p50 blue, p99 red",
        y1,
        &ticks,
    );
    let p50: Vec<(f64, f64)> = tl
        .iter()
        .map(|p| (p.second as f64 / last, p.p50_us as f64 / 1000.0))
        .collect();
    let p99: Vec<(f64, f64)> = tl
        .iter()
        .map(|p| (p.second as f64 / last, p.p99_us as f64 / 1000.0))
        .collect();
    polyline(&mut s, 10.0, &p50, y1, "#1f77b4");
    polyline(&mut s, 10.0, &p99, y1, "#d62728");

    // Panel 2: the percentile curve, x = log10(1 / (1 − q)) up to 99.999%.
    let top2 = PANEL_H + 40.0;
    const DECADES: f64 = 5.0;
    let labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];
    let ticks: Vec<(f64, String)> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i as f64 / DECADES, (*l).to_string()))
        .collect();
    let y2 = nice_max(latency.max() as f64 / 1000.0);
    panel(
        &mut s,
        top2,
        "Latency by percentile (whole run)",
        y2,
        &ticks,
    );
    if !latency.is_empty() {
        let curve: Vec<(f64, f64)> = (0..=500)
            .map(|i| {
                let x = DECADES * i as f64 / 500.0;
                let q = 1.0 - 10f64.powf(-x);
                (x / DECADES, latency.value_at_quantile(q) as f64 / 1000.0)
            })
            .collect();
        polyline(&mut s, top2, &curve, y2, "#2ca02c");
    }
    s.push_str("</svg>\n");
    s
}

/// A y-axis label for `v` ms on an axis that goes up to `max` ms.
fn axis_label(v: f64, max: f64) -> String {
    if max >= 2000.0 {
        format!("{:.1} s", v / 1000.0)
    } else if max >= 20.0 && v.fract() == 0.0 {
        format!("{v:.0} ms")
    } else if max >= 20.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// A round upper bound for an axis (1, 2 or 5 times a power of ten).
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * p)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.0), 5.0);
        assert_eq!(nice_max(0.12), 0.2);
        assert_eq!(nice_max(100.0), 100.0);
    }
}
