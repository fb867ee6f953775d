//! The coordinating process: starts the workers, runs the phases, publishes,
//! gathers the figures and writes the summary.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{ExitCode, Stdio};
use std::rc::Rc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::args::{PublishSpec, SubscribeSpec};
use crate::protocol::{decode_hist, FromWorker, Progress, ToWorker, WorkerConfig, WorkerReport};
use crate::publisher::{self, Live, PublishStats, Schedule};
use crate::report::{
    ConnectSummary, DeliverySummary, GeneratorSummary, LatencySummary, PublishSummary,
    ServerSummary, SlowResumeSummary, Summary, TimelinePoint, SCHEMA,
};
use crate::template::HttpUrl;
use crate::{latency_histogram, now_us, procfs, raise_nofile_limit, Args};

/// Default subscribers per worker process: well under the 20,000 open
/// files one process may hold, with room for the runtime's own.
const PER_WORKER: u64 = 15_000;
/// Connections per source address before another address is added (the
/// ephemeral port range holds about 28,000 per source/destination pair).
const PER_SOURCE: u64 = 25_000;
/// Slack on top of each phase's computed bound, for process start-up and
/// reporting.
const SLACK: Duration = Duration::from_secs(30);

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.subscribers == 0 {
        bail!("--subscribers must be at least 1");
    }
    // Topic names go into request lines and headers unescaped where a
    // template puts them in a header: no control characters.
    if args.topic_prefix.chars().any(char::is_control) {
        bail!("--topic-prefix must not contain control characters");
    }
    let sub = args.subscribe_spec()?;
    let publ = if args.hold_mode() {
        None
    } else {
        Some(args.publish_spec()?)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let (summary, latency) = local.block_on(&rt, coordinate(&args, sub, publ))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.to_table());
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, crate::report::svg(&summary, &latency))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if summary.clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

async fn resolve(url: &HttpUrl) -> anyhow::Result<SocketAddr> {
    tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .with_context(|| format!("resolving {}", url.host))?
        .next()
        .with_context(|| format!("{} has no address", url.host))
}

/// Enough 127.0.0.x source addresses that none carries more than
/// [`PER_SOURCE`] connections; none (the kernel chooses) when one suffices
/// or the server is not on IPv4 loopback.
fn default_sources(server: IpAddr, subscribers: u64) -> Vec<IpAddr> {
    let needed = subscribers.div_ceil(PER_SOURCE).min(254);
    match server {
        IpAddr::V4(v4) if v4.is_loopback() && needed > 1 => (1..=needed)
            .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8)))
            .collect(),
        _ => Vec::new(),
    }
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    progress: Progress,
    ready: bool,
    report: Option<Box<WorkerReport>>,
}

/// The workers and the channel their messages arrive on.
struct Fleet {
    workers: Vec<Worker>,
    rx: mpsc::UnboundedReceiver<(usize, Option<FromWorker>)>,
}

impl Fleet {
    /// Waits for one message and applies it.
    async fn step(&mut self) -> anyhow::Result<()> {
        let Some((w, msg)) = self.rx.recv().await else {
            bail!("all workers are gone");
        };
        let worker = &mut self.workers[w];
        match msg {
            Some(FromWorker::Progress(p)) => worker.progress = p,
            Some(FromWorker::Ready(p)) => {
                worker.progress = p;
                worker.ready = true;
            }
            Some(FromWorker::Report(r)) => {
                worker.progress = r.progress;
                worker.report = Some(r);
            }
            Some(FromWorker::Fatal { message }) => bail!("worker {w}: {message}"),
            None if worker.report.is_some() => {}
            None => bail!("worker {w} exited unexpectedly (see its stderr above)"),
        }
        Ok(())
    }

    fn total(&self) -> Progress {
        let mut t = Progress::default();
        for w in &self.workers {
            t.connected += w.progress.connected;
            t.failed += w.progress.failed;
            t.open += w.progress.open;
            t.delivered += w.progress.delivered;
        }
        t
    }

    async fn send_all(&mut self, msg: &ToWorker) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(msg)?;
        line.push('\n');
        for (i, w) in self.workers.iter_mut().enumerate() {
            w.stdin
                .write_all(line.as_bytes())
                .await
                .with_context(|| format!("writing to worker {i}"))?;
        }
        Ok(())
    }
}

/// The progress line on stderr.
struct ProgressLine {
    on: bool,
    tty: bool,
    last_delivered: u64,
    last_at: Instant,
}

impl ProgressLine {
    /// Shows the phase, how far it is (`fraction`, 0 to 1, as a bar on a
    /// terminal), and the counts.
    fn show(&mut self, phase: &str, fraction: f64, total: Progress, n: u64, live: Option<&Live>) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        let secs = now.duration_since(self.last_at).as_secs_f64().max(1e-3);
        let rate = (total.delivered.saturating_sub(self.last_delivered)) as f64 / secs;
        self.last_delivered = total.delivered;
        self.last_at = now;
        let fraction = fraction.clamp(0.0, 1.0);
        let filled = (fraction * 20.0).round() as usize;
        let bar = if self.tty {
            format!("[{}{}] ", "#".repeat(filled), ".".repeat(20 - filled))
        } else {
            String::new()
        };
        let mut line = format!(
            "{bar}{phase} {:>3.0}%: connected {}/{n}, failed {}, open {}",
            fraction * 100.0,
            total.connected,
            total.failed,
            total.open
        );
        if let Some(live) = live {
            line.push_str(&format!(
                ", published {} ({} errors)",
                live.sent.get(),
                live.errors.get()
            ));
        }
        line.push_str(&format!(", delivered {} ({rate:.0}/s)", total.delivered));
        if self.tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }

    fn done(&self) {
        if self.on && self.tty {
            eprintln!();
        }
    }
}

async fn coordinate(
    args: &Args,
    sub: SubscribeSpec,
    publ: Option<PublishSpec>,
) -> anyhow::Result<(Summary, Histogram<u64>)> {
    // With several topics, a template without `{topic}` would send every
    // subscriber (or every update) to the same place and report the mix-up
    // as loss.
    if args.topics > 1 && sub.urls.iter().any(|u| !u.target.has_topic()) {
        bail!(
            "--topics {} needs {{topic}} in the subscribe URL",
            args.topics
        );
    }
    if let Some(p) = publ.as_ref().filter(|_| args.topics > 1) {
        if !p.url.target.has_topic()
            && !p.body.has_topic()
            && !p.headers.iter().any(|h| h.has_topic())
        {
            bail!(
                "--topics {} needs {{topic}} in the publish URL, body or a header",
                args.topics
            );
        }
    }
    let mut servers = Vec::with_capacity(sub.urls.len());
    for url in &sub.urls {
        servers.push(resolve(url).await?);
    }
    let server = servers[0];
    let publish_server = match &publ {
        Some(p) => Some(resolve(&p.url).await?),
        None => None,
    };
    let limit = raise_nofile_limit();
    let n = args.subscribers;
    let workers = args
        .workers
        .unwrap_or(n.div_ceil(PER_WORKER))
        .max(sub.urls.len() as u64)
        .clamp(1, n);
    if (workers as usize) < sub.urls.len() {
        bail!(
            "{} subscribe URLs need at least as many worker processes (and subscribers)",
            sub.urls.len()
        );
    }
    let per = n.div_ceil(workers);
    if per + 64 > limit {
        bail!(
            "{per} subscribers per worker exceed this process's open-files limit ({limit}); use --workers {} or more",
            n.div_ceil(limit.saturating_sub(64).max(1))
        );
    }
    let sources = if args.source_addrs.is_empty() {
        default_sources(server.ip(), n)
    } else {
        args.source_addrs.clone()
    };
    for server in &servers {
        if let Some(bad) = sources.iter().find(|s| s.is_ipv4() != server.is_ipv4()) {
            bail!("source address {bad} is not of the server's address family ({server})");
        }
    }
    let pids = &args.server_pid;
    let rss_before = if pids.is_empty() {
        None
    } else {
        Some(
            procfs::rss_kib(pids)
                .with_context(|| format!("reading /proc for --server-pid {pids:?}"))?,
        )
    };

    // Start the workers.
    let exe = std::env::current_exe().context("finding this executable to start workers")?;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut fleet = Fleet {
        workers: Vec::new(),
        rx,
    };
    // The worker re-parses the template; rendering it with the placeholder
    // text itself gives the template back.
    let targets: Vec<String> = sub
        .urls
        .iter()
        .map(|u| {
            let mut t = String::new();
            u.target
                .render("{topic}", "", crate::template::Encoding::Raw, &mut t);
            t
        })
        .collect();
    let connect_started = Instant::now();
    for w in 0..workers {
        let first = w * per;
        let count = n.saturating_sub(first).min(per);
        let node = w as usize % sub.urls.len();
        let cfg = WorkerConfig {
            worker: w,
            first,
            count,
            topics: args.topics,
            topic_prefix: args.topic_prefix.clone(),
            server: servers[node],
            authority: sub.urls[node].authority.clone(),
            target: targets[node].clone(),
            headers: sub.headers.clone(),
            sources: sources.clone(),
            connect_rate: args.connect_rate / workers as f64,
            connect_concurrency: args.connect_concurrency,
            connect_timeout_ms: (args.connect_timeout * 1000.0) as u64,
            payload: args.payload,
            slow_fraction: args.slow_fraction,
            slow_resume: args.slow_resume,
        };
        let mut child = Command::new(&exe)
            .args(&args.self_args)
            .arg("--worker-json")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting worker process {}", exe.display()))?;
        let mut stdin = child.stdin.take().context("worker stdin")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        let mut line = serde_json::to_string(&ToWorker::Config(cfg))?;
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .await
            .with_context(|| format!("sending worker {w} its orders"))?;
        let tx = tx.clone();
        let index = w as usize;
        tokio::task::spawn_local(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let msg = serde_json::from_str::<FromWorker>(&line).unwrap_or_else(|e| {
                    FromWorker::Fatal {
                        message: format!("unreadable message ({e})"),
                    }
                });
                if tx.send((index, Some(msg))).is_err() {
                    return;
                }
            }
            let _ = tx.send((index, None));
        });
        fleet.workers.push(Worker {
            child,
            stdin,
            progress: Progress::default(),
            ready: false,
            report: None,
        });
    }
    drop(tx);

    let mut progress = ProgressLine {
        on: args.progress || std::io::stderr().is_terminal(),
        tty: std::io::stderr().is_terminal(),
        last_delivered: 0,
        last_at: Instant::now(),
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));

    // Phase 1: connect. Each attempt is bounded by the connect timeout and
    // they start at a known rate, so the whole phase has a bound.
    let bound = Duration::from_secs_f64(
        per as f64 / (args.connect_rate / workers as f64) + args.connect_timeout,
    ) + SLACK;
    let deadline = Instant::now() + bound;
    while !fleet.workers.iter().all(|w| w.ready) {
        tokio::select! {
            r = fleet.step() => r?,
            _ = tick.tick() => {
                let t = fleet.total();
                progress.show("connect", (t.connected + t.failed) as f64 / n as f64, t, n, None)
            },
            () = tokio::time::sleep_until(deadline) => bail!("subscribers did not finish connecting within {bound:?}"),
        }
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    let connected = fleet.total();
    let rss_connected = if pids.is_empty() {
        None
    } else {
        procfs::rss_kib(pids)
    };

    // Phase 2: publish, or hold.
    let live = Rc::new(Live::default());
    let cpu_before = if pids.is_empty() {
        None
    } else {
        procfs::cpu_seconds(pids)
    };
    let publish_start_us = now_us();
    let mut publish_stats: Option<PublishStats> = None;
    // The server's largest RSS seen while publishing (sampled each second
    // and at the end): whether memory stays bounded under slow consumers,
    // before they resume and the drain changes the picture.
    let mut rss_peak = rss_connected;
    let sample_peak = |peak: &mut Option<u64>| {
        if let Some(now) = procfs::rss_kib(pids) {
            *peak = Some(peak.map_or(now, |p| p.max(now)));
        }
    };
    match (publ, publish_server) {
        (Some(spec), Some(addr)) => {
            let schedule = Schedule {
                rate: args.rate,
                updates: args.updates,
                duration: Duration::from_secs_f64(args.duration),
                topics: args.topics,
                topic_prefix: args.topic_prefix.clone(),
                payload: args.payload,
                concurrency: args.publish_concurrency,
                timeout: Duration::from_secs_f64(args.publish_timeout),
            };
            let planned = args
                .updates
                .map_or(args.rate * args.duration, |u| u as f64)
                .max(1.0);
            let mut handle =
                tokio::task::spawn_local(publisher::publish(spec, addr, schedule, live.clone()));
            if args.churn > 0.0 {
                fleet
                    .send_all(&ToWorker::Churn {
                        per_second: args.churn / workers as f64,
                    })
                    .await?;
            }
            loop {
                tokio::select! {
                    r = &mut handle => {
                        publish_stats = Some(r.context("publisher task failed")?);
                        break;
                    }
                    r = fleet.step() => r?,
                    _ = tick.tick() => {
                        if !pids.is_empty() {
                            sample_peak(&mut rss_peak);
                        }
                        progress.show("publish", live.sent.get() as f64 / planned, fleet.total(), n, Some(&live));
                    }
                }
            }
        }
        _ => {
            let hold = Duration::from_secs_f64(args.hold.unwrap_or(0.0));
            let started = Instant::now();
            let until = started + hold;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => break,
                    r = fleet.step() => r?,
                    _ = tick.tick() => progress.show(
                        "hold",
                        started.elapsed().as_secs_f64() / hold.as_secs_f64().max(1e-9),
                        fleet.total(),
                        n,
                        None,
                    ),
                }
            }
        }
    }

    if !pids.is_empty() && publish_stats.is_some() {
        sample_peak(&mut rss_peak);
    }

    // Phase 3: drain and report.
    let ok_per_topic = publish_stats
        .as_ref()
        .map_or_else(|| vec![0; args.topics as usize], |p| p.ok_per_topic.clone());
    let drain_ms = if publish_stats.is_some() {
        (args.drain_timeout * 1000.0) as u64
    } else {
        0
    };
    fleet
        .send_all(&ToWorker::Finish {
            ok_per_topic,
            drain_timeout_ms: drain_ms,
        })
        .await?;
    let deadline = Instant::now() + Duration::from_millis(drain_ms) + SLACK;
    while !fleet.workers.iter().all(|w| w.report.is_some()) {
        tokio::select! {
            r = fleet.step() => r?,
            _ = tick.tick() => progress.show("drain", 1.0, fleet.total(), n, publish_stats.as_ref().map(|_| &*live)),
            () = tokio::time::sleep_until(deadline) => bail!("workers did not report in time"),
        }
    }
    let cpu_after = if pids.is_empty() {
        None
    } else {
        procfs::cpu_seconds(pids)
    };
    let rss_end = if pids.is_empty() {
        None
    } else {
        procfs::rss_kib(pids)
    };
    progress.show(
        "done",
        1.0,
        fleet.total(),
        n,
        publish_stats.as_ref().map(|_| &*live),
    );
    progress.done();

    // Workers exit after reporting; give them a moment, then make sure.
    for w in &mut fleet.workers {
        if tokio::time::timeout(Duration::from_secs(5), w.child.wait())
            .await
            .is_err()
        {
            let _ = w.child.kill().await;
        }
    }

    let reports: Vec<&WorkerReport> = fleet
        .workers
        .iter()
        .filter_map(|w| w.report.as_deref())
        .collect();
    let mut latency = latency_histogram();
    let mut timeline: BTreeMap<u64, Histogram<u64>> = BTreeMap::new();
    let mut connect_errors = BTreeMap::new();
    let mut reconnect_errors = BTreeMap::new();
    let mut disconnects = BTreeMap::new();
    let mut last_delivery: Option<u64> = None;
    for r in &reports {
        latency
            .add(decode_hist(&r.latency)?)
            .context("merging histograms")?;
        for (sec, h) in &r.timeline {
            let h = decode_hist(h)?;
            match timeline.get_mut(sec) {
                Some(t) => t.add(h).context("merging histograms")?,
                None => {
                    timeline.insert(*sec, h);
                }
            }
        }
        for (k, v) in &r.connect_errors {
            *connect_errors.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &r.reconnect_errors {
            *reconnect_errors.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &r.disconnects {
            *disconnects.entry(k.clone()).or_insert(0) += v;
        }
        last_delivery = last_delivery.max(r.last_delivery_us);
    }
    let sum = |f: fn(&WorkerReport) -> u64| reports.iter().map(|r| f(r)).sum::<u64>();
    let end = fleet.total();
    let delivered = end.delivered;
    let delivery_seconds =
        last_delivery.map_or(0.0, |l| l.saturating_sub(publish_start_us) as f64 / 1e6);
    let reconnect_errors_total: u64 = reconnect_errors.values().sum();
    let delivery = DeliverySummary {
        expected: sum(|r| r.expected),
        delivered,
        lost: sum(|r| r.lost),
        duplicated: sum(|r| r.duplicated),
        subscribers_with_loss: sum(|r| r.subscribers_with_loss),
        subscribers_with_duplicates: sum(|r| r.subscribers_with_duplicates),
        max_lost_per_subscriber: reports
            .iter()
            .map(|r| r.max_lost_per_subscriber)
            .max()
            .unwrap_or(0),
        unmatched: sum(|r| r.unmatched),
        misrouted: sum(|r| r.misrouted),
        slow_subscribers: sum(|r| r.slow),
        churned_subscribers: sum(|r| r.churned),
        still_open: end.open,
        disconnects,
        seconds: delivery_seconds,
        deliveries_per_second: if delivery_seconds > 0.0 {
            delivered as f64 / delivery_seconds
        } else {
            0.0
        },
    };
    let publish = publish_stats.map(|p| PublishSummary {
        rate_target: args.rate,
        rate_achieved: if p.seconds > 0.0 {
            p.attempted as f64 / p.seconds
        } else {
            0.0
        },
        attempted: p.attempted,
        ok: p.ok,
        errors: p.errors,
        seconds: p.seconds,
        status_codes: p
            .status_codes
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        error_reasons: p.error_reasons,
        max_late_ms: p.max_late_us as f64 / 1000.0,
        late_sends: p.late_sends,
        blocked_sends: p.blocked_sends,
    });
    let gen_start: Option<u64> = reports.iter().map(|r| r.rss_start_kib).sum();
    let gen_connected: Option<u64> = reports.iter().map(|r| r.rss_connected_kib).sum();
    let generator = GeneratorSummary {
        rss_kib: gen_connected,
        rss_per_subscriber_bytes: gen_start
            .zip(gen_connected)
            .filter(|_| connected.connected > 0)
            .map(|(a, b)| (b as f64 - a as f64) * 1024.0 / connected.connected as f64),
        cpu_seconds: reports.iter().map(|r| r.cpu_after_connect_seconds).sum(),
    };
    let server_summary = (!pids.is_empty()).then(|| {
        let cpu = cpu_before
            .zip(cpu_after)
            .map(|(a, b)| b - a)
            .filter(|_| publish.is_some());
        ServerSummary {
            pids: pids.clone(),
            rss_before_kib: rss_before,
            rss_connected_kib: rss_connected,
            rss_end_kib: rss_end,
            rss_publish_peak_kib: rss_peak.filter(|_| publish.is_some()),
            rss_per_subscriber_bytes: rss_before
                .zip(rss_connected)
                .filter(|_| connected.connected > 0)
                .map(|(a, b)| (b as f64 - a as f64) * 1024.0 / connected.connected as f64),
            cpu_seconds: cpu,
            cpu_us_per_delivery: cpu
                .filter(|_| delivered > 0)
                .map(|c| c * 1e6 / delivered as f64),
        }
    });
    let start_sec = (publish_start_us / 1_000_000) as i64;
    let timeline = timeline
        .iter()
        .map(|(sec, h)| TimelinePoint {
            second: *sec as i64 - start_sec,
            samples: h.len(),
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
        })
        .collect();
    let slow_resume = (args.slow_resume && delivery.slow_subscribers > 0).then(|| {
        let mut s = SlowResumeSummary {
            subscribers: delivery.slow_subscribers,
            disconnected: 0,
            reconnects: 0,
            reconnect_errors: BTreeMap::new(),
            expected: 0,
            lost: 0,
            duplicated: 0,
            subscribers_with_loss: 0,
        };
        for r in &reports {
            let w = &r.slow_resume;
            s.disconnected += w.disconnected;
            s.reconnects += w.reconnects;
            s.expected += w.expected;
            s.lost += w.lost;
            s.duplicated += w.duplicated;
            s.subscribers_with_loss += w.subscribers_with_loss;
            for (k, v) in &w.reconnect_errors {
                *s.reconnect_errors.entry(k.clone()).or_insert(0) += v;
            }
        }
        s
    });
    let clean = connected.failed == 0
        && slow_resume
            .as_ref()
            .is_none_or(|s| s.lost == 0 && s.duplicated == 0 && s.reconnect_errors.is_empty())
        && reconnect_errors_total == 0
        && publish.as_ref().is_none_or(|p| p.errors == 0)
        && delivery.lost == 0
        && delivery.duplicated == 0
        && delivery.misrouted == 0
        && delivery.disconnects.is_empty();
    let summary = Summary {
        schema: SCHEMA,
        target: args.target,
        mode: if publish.is_some() { "publish" } else { "hold" },
        subscribers: n,
        workers,
        topics: args.topics,
        source_addrs: sources.iter().map(|s| s.to_string()).collect(),
        payload_bytes: args.payload,
        connect: ConnectSummary {
            connected: connected.connected,
            failed: connected.failed,
            seconds: connect_seconds,
            errors: connect_errors,
            reconnects: sum(|r| r.reconnects),
            reconnect_errors,
        },
        publish,
        delivery,
        slow_resume,
        latency_us: LatencySummary::from_histogram(&latency),
        server: server_summary,
        generator,
        timeline,
        clean,
    };
    Ok((summary, latency))
}
