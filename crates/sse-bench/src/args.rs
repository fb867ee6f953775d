//! Command-line arguments, and their resolution into what a run needs.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Context as _};

use crate::template::{Encoding, HttpUrl, Template};

/// Arguments of `sse bench`. Durations are in seconds (fractions allowed).
///
/// Flatten into a `clap` command (`Bench(sse_bench::Args)`), then set
/// [`self_args`](Args::self_args) to the subcommand path that reaches it, so
/// the worker processes can be started the same way.
#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Load-test an SSE server: many subscribers, a fixed-rate publisher, latency and loss"
)]
pub struct Args {
    /// Server preset: `mercure` (a Mercure hub, ours included), `nchan`
    /// (nginx+nchan with /sub?id= and /pub?id= locations, as in the
    /// repository's bench/nchan.conf.in), or `custom` (give --subscribe-url
    /// and --publish-url).
    #[arg(long, value_enum, default_value_t = Target::Custom)]
    pub target: Target,

    /// Base URL for a preset, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    pub url: Option<String>,

    /// Subscribe URL template; `{topic}` is replaced (percent-encoded).
    /// Overrides the preset's. Repeat it to spread the subscribers over
    /// several servers (hub nodes): worker process `w` connects its
    /// subscribers to the `w mod n`-th URL, so give at least as many
    /// --workers as URLs.
    #[arg(long, value_name = "URL")]
    pub subscribe_url: Vec<String>,

    /// Extra subscribe request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// Publish URL template (`{topic}` percent-encoded). Overrides the
    /// preset's.
    #[arg(long, value_name = "URL")]
    pub publish_url: Option<String>,

    /// Publish request method.
    #[arg(long, value_name = "METHOD")]
    pub publish_method: Option<String>,

    /// Extra publish request header, `Name: value` (repeatable). With
    /// `Content-Type: application/x-www-form-urlencoded` the body's
    /// placeholders are form-encoded, with `application/json` JSON-escaped.
    #[arg(long = "publish-header", value_name = "HEADER")]
    pub publish_headers: Vec<String>,

    /// Publish body template with `{topic}` and `{data}` (default `{data}`).
    #[arg(long, value_name = "TEMPLATE")]
    pub publish_body: Option<String>,

    /// Bearer token for publishing (`Authorization: Bearer …`), for the
    /// mercure preset. Prefer the environment variable: flags end up in
    /// shell history.
    #[arg(long, env = "SSE_BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Number of subscribers.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub subscribers: u64,

    /// Number of topics; subscriber `i` subscribes to topic `i % topics`,
    /// and updates go to the topics round-robin.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub topics: u64,

    /// Topic names are this prefix followed by the topic index.
    #[arg(long, default_value = "/bench/")]
    pub topic_prefix: String,

    /// Worker processes holding the subscribers (default: one per 15,000).
    #[arg(long)]
    pub workers: Option<u64>,

    /// Source addresses to bind subscribers to, round-robin, e.g.
    /// `127.0.0.1,127.0.0.2` (default for a 127.x server: enough 127.0.0.x
    /// addresses that none carries more than 25,000 connections).
    #[arg(long, value_delimiter = ',', value_name = "ADDRS")]
    pub source_addrs: Vec<IpAddr>,

    /// New subscriber connections per second, over all workers.
    #[arg(long, default_value_t = 5000.0, value_parser = positive)]
    pub connect_rate: f64,

    /// Subscriber connections being set up at once, per worker.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub connect_concurrency: u64,

    /// Bound on one subscriber's connect and response head, seconds.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    pub connect_timeout: f64,

    /// Updates published per second, over all topics. 0 holds the
    /// subscribers idle instead (see --hold).
    #[arg(long, default_value_t = 10.0, value_parser = non_negative)]
    pub rate: f64,

    /// Stop publishing after this many updates (default: run --duration).
    #[arg(long)]
    pub updates: Option<u64>,

    /// Length of the publish window, seconds.
    #[arg(long, default_value_t = 10.0, value_parser = non_negative)]
    pub duration: f64,

    /// Size of each update's data in bytes (at least the ~40-byte stamp).
    #[arg(long, default_value_t = 100)]
    pub payload: usize,

    /// Publish requests in flight at once (each on its own keep-alive
    /// connection). When all are busy the schedule slips, and the summary
    /// says by how much.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub publish_concurrency: u64,

    /// Bound on one publish request, seconds.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    pub publish_timeout: f64,

    /// How long to wait after the last publish for deliveries still on
    /// their way, seconds.
    #[arg(long, default_value_t = 5.0, value_parser = non_negative)]
    pub drain_timeout: f64,

    /// Fraction of subscribers (0 to 1, spread evenly) that stop reading
    /// right after connecting, with a small receive buffer: slow consumers.
    /// They are counted apart; the others' loss and latency show whether
    /// the server isolates them, its RSS whether its memory stays bounded.
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    pub slow_fraction: f64,

    /// With --slow-fraction: when publishing ends the slow subscribers
    /// start reading again, and one whose stream the server ended
    /// reconnects with `Last-Event-ID` (the last id it received), as an
    /// EventSource would. Their loss after resuming is reported apart
    /// (`slow` in the JSON), and counts against a clean run. Without
    /// slow subscribers it changes nothing.
    #[arg(long)]
    pub slow_resume: bool,

    /// Churn: close and reopen this many subscribers per second (over all
    /// workers, round robin) while publishing. Churned subscribers are left
    /// out of the loss and duplicate figures (they miss what is sent while
    /// they reconnect); the others show whether churn disturbs them.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative, value_name = "PER_SEC")]
    pub churn: f64,

    /// Idle-hold measurement: connect, measure server RSS, hold this many
    /// seconds, exit; nothing is published.
    #[arg(long, value_parser = non_negative, value_name = "SECS")]
    pub hold: Option<f64>,

    /// Server process id(s) to measure CPU time and RSS of
    /// (comma-separated; their figures are summed).
    #[arg(long, value_delimiter = ',', value_name = "PID")]
    pub server_pid: Vec<u32>,

    /// Print the summary as JSON (fields documented on `sse_bench::report::Summary`).
    #[arg(long)]
    pub json: bool,

    /// Write an SVG plot: latency over time and the percentile curve.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,

    /// Print progress on stderr even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,

    /// Internal: run as a worker process, reading its orders on stdin.
    #[arg(long = "worker-json", hide = true)]
    pub worker: bool,

    /// The arguments that lead from the executable to this command (for the
    /// `sse` binary `["bench"]`, for a stand-alone binary `[]`): worker
    /// processes are started as `current_exe() <self_args> --worker-json`.
    #[arg(skip = vec![String::from("bench")])]
    pub self_args: Vec<String>,
}

/// Server presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Mercure: `GET {url}/.well-known/mercure?topic=…`, publish by form POST.
    Mercure,
    /// nginx+nchan: `GET {url}/sub?id=…`, `POST {url}/pub?id=…`.
    Nchan,
    /// Templates only.
    Custom,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err("expected a positive number".into()),
    }
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("expected a number from 0 to 1".into()),
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err("expected a number ≥ 0".into()),
    }
}

/// The publish request, resolved from the preset and the templates.
#[derive(Debug, Clone)]
pub(crate) struct PublishSpec {
    pub url: HttpUrl,
    pub method: String,
    /// `Name: value` lines, with placeholders.
    pub headers: Vec<Template>,
    pub body: Template,
    pub body_encoding: Encoding,
}

/// The subscribe request, resolved.
#[derive(Debug, Clone)]
pub(crate) struct SubscribeSpec {
    /// At least one; worker `w` uses `urls[w % urls.len()]`.
    pub urls: Vec<HttpUrl>,
    pub headers: Vec<String>,
}

fn check_header(h: &str) -> anyhow::Result<()> {
    let (name, _) = h
        .split_once(':')
        .with_context(|| format!("header {h:?}: expected `Name: value`"))?;
    if name.is_empty()
        || name.contains(|c: char| c.is_whitespace() || c.is_control())
        || h.contains(['\r', '\n'])
    {
        bail!("header {h:?}: bad name or line break");
    }
    Ok(())
}

impl Args {
    /// Idle-hold mode: no publishing.
    pub(crate) fn hold_mode(&self) -> bool {
        self.hold.is_some() || self.rate == 0.0
    }

    pub(crate) fn subscribe_spec(&self) -> anyhow::Result<SubscribeSpec> {
        let base = self.url.as_deref().map(|u| u.trim_end_matches('/'));
        let urls = match (self.subscribe_url.is_empty(), self.target, base) {
            (false, _, _) => self.subscribe_url.clone(),
            (true, Target::Mercure, Some(b)) => {
                vec![format!("{b}/.well-known/mercure?topic={{topic}}")]
            }
            (true, Target::Nchan, Some(b)) => vec![format!("{b}/sub?id={{topic}}")],
            (true, Target::Custom, _) => bail!("--subscribe-url is required with --target custom"),
            (true, _, None) => bail!("--url is required with a --target preset"),
        };
        for h in &self.headers {
            check_header(h)?;
        }
        Ok(SubscribeSpec {
            urls: urls
                .iter()
                .map(|u| HttpUrl::parse(u))
                .collect::<Result<_, _>>()?,
            headers: self.headers.clone(),
        })
    }

    pub(crate) fn publish_spec(&self) -> anyhow::Result<PublishSpec> {
        let base = self.url.as_deref().map(|u| u.trim_end_matches('/'));
        let mut headers: Vec<String> = Vec::new();
        let (url, body) = match (self.target, base) {
            (Target::Mercure, Some(b)) => {
                headers.push("Content-Type: application/x-www-form-urlencoded".into());
                if let Some(t) = &self.token {
                    headers.push(format!("Authorization: Bearer {t}"));
                }
                (
                    Some(format!("{b}/.well-known/mercure")),
                    "topic={topic}&data={data}",
                )
            }
            (Target::Nchan, Some(b)) => (Some(format!("{b}/pub?id={{topic}}")), "{data}"),
            _ => (None, "{data}"),
        };
        let url = self
            .publish_url
            .clone()
            .or(url)
            .context("--publish-url is required (or a --target preset with --url)")?;
        for h in &self.publish_headers {
            check_header(h)?;
            // A header given explicitly replaces the preset's of that name.
            let name = h.split(':').next().unwrap_or("").trim();
            headers.retain(|p| {
                !p.split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case(name)
            });
            headers.push(h.clone());
        }
        let content_type = headers
            .iter()
            .filter_map(|h| h.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let body_encoding = if content_type.starts_with("application/x-www-form-urlencoded") {
            Encoding::Form
        } else if content_type.starts_with("application/json") {
            Encoding::Json
        } else {
            Encoding::Raw
        };
        let method = self.publish_method.clone().unwrap_or_else(|| "POST".into());
        if method.is_empty()
            || !method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            bail!("--publish-method {method:?} is not an HTTP method token");
        }
        Ok(PublishSpec {
            url: HttpUrl::parse(&url)?,
            method,
            headers: headers.iter().map(|h| Template::parse(h)).collect(),
            body: Template::parse(self.publish_body.as_deref().unwrap_or(body)),
            body_encoding,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, Subcommand};

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        Bench(Args),
    }

    fn parse(args: &[&str]) -> Args {
        let Command::Bench(a) = Cli::try_parse_from(args).unwrap().command;
        a
    }

    #[test]
    fn as_a_subcommand_the_worker_path_defaults_to_bench() {
        let a = parse(&[
            "sse",
            "bench",
            "--subscribe-url",
            "http://127.0.0.1:1/s?t={topic}",
        ]);
        assert_eq!(a.self_args, ["bench"]);
        assert!(!a.worker);
        assert!(parse(&["sse", "bench", "--worker-json"]).worker);
    }

    #[test]
    fn presets_resolve_to_templates() {
        let a = parse(&[
            "sse",
            "bench",
            "--target",
            "nchan",
            "--url",
            "http://127.0.0.1:9/",
        ]);
        let sub = a.subscribe_spec().unwrap();
        let mut s = String::new();
        sub.urls[0]
            .target
            .render("/bench/1", "", Encoding::Url, &mut s);
        assert_eq!(s, "/sub?id=%2Fbench%2F1");
        let p = a.publish_spec().unwrap();
        assert_eq!(
            (p.method.as_str(), p.body_encoding),
            ("POST", Encoding::Raw)
        );

        let a = parse(&[
            "sse",
            "bench",
            "--target",
            "mercure",
            "--url",
            "http://127.0.0.1:9",
            "--token",
            "t",
            "--publish-header",
            "content-type: application/json",
            "--publish-body",
            r#"{"d":"{data}"}"#,
        ]);
        let p = a.publish_spec().unwrap();
        // The explicit header replaced the preset's content type.
        assert_eq!(p.body_encoding, Encoding::Json);
        let mut headers = String::new();
        for h in &p.headers {
            h.render("", "", Encoding::Raw, &mut headers);
            headers.push('|');
        }
        assert_eq!(
            headers,
            "Authorization: Bearer t|content-type: application/json|"
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        let a = parse(&["sse", "bench", "--target", "nchan"]);
        assert!(a.subscribe_spec().is_err()); // no --url
        let a = parse(&[
            "sse",
            "bench",
            "--subscribe-url",
            "http://h/",
            "-H",
            "no colon",
        ]);
        assert!(a.subscribe_spec().is_err());
        let a = parse(&[
            "sse",
            "bench",
            "--publish-url",
            "http://h/",
            "--publish-method",
            "P OST",
        ]);
        assert!(a.publish_spec().is_err());
        assert!(Cli::try_parse_from(["sse", "bench", "--slow-fraction", "2"]).is_err());
        assert!(Cli::try_parse_from(["sse", "bench", "--topics", "0"]).is_err());
    }
}
