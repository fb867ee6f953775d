//! `sse listen URL`: curl for server-sent events. Connects with
//! `sse-client`'s `EventSource` and prints what arrives, as text for people
//! or as JSON lines for programs.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{FutureExt, StreamExt};
use serde_json::json;
use sse_client::{Event, EventSource, ReconnectPolicy};

#[derive(clap::Args)]
pub struct Args {
    /// The event stream's URL (http or https).
    url: String,
    /// Add a request header, as 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Request method (for POST-based SSE APIs). A method that is not
    /// idempotent (POST, PATCH) is never sent twice: the first disconnect
    /// ends the command.
    #[arg(short = 'X', long, value_name = "METHOD", default_value = "GET")]
    method: String,
    /// Request body, sent on every (re)connection.
    #[arg(short = 'd', long, value_name = "BODY")]
    data: Option<String>,
    /// Resume after this event ID (sent as Last-Event-ID).
    #[arg(long, value_name = "ID")]
    last_event_id: Option<String>,
    /// Exit (successfully) after this many messages.
    #[arg(long, value_name = "N")]
    max_events: Option<u64>,
    /// Print one JSON object per line: messages as {"type","data","id"},
    /// state changes as {"state","reason"}, and each open as
    /// {"state":"open","status","headers"}.
    #[arg(long)]
    json: bool,
    /// Do not reconnect: the first disconnect ends the command.
    #[arg(long)]
    no_reconnect: bool,
    /// Give up on a connection that does not answer, or goes silent (no
    /// bytes at all, not even a keep-alive), for this many seconds.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Also reconnect (with backoff) on these HTTP statuses, e.g. 502,503.
    #[arg(long, value_name = "STATUS", value_delimiter = ',')]
    retry_status: Vec<u16>,
    /// Also trust the CA certificates in this PEM file (a private or
    /// internal CA), as curl's --cacert.
    #[arg(long, value_name = "PEM")]
    cacert: Option<std::path::PathBuf>,
    /// Do not check the server's certificate at all. For development only:
    /// anyone on the network path can read and change the stream.
    #[arg(short = 'k', long)]
    insecure: bool,
    /// Send every request through this HTTP proxy
    /// (http://[user:password@]host:port) instead of the one HTTP_PROXY,
    /// HTTPS_PROXY or ALL_PROXY name (NO_PROXY still applies to those).
    #[arg(long, value_name = "URL", conflicts_with = "no_proxy")]
    proxy: Option<String>,
    /// Ignore the proxy environment variables: connect directly.
    #[arg(long)]
    no_proxy: bool,
    /// Also print comment lines (often keep-alives): {"comment": TEXT} with
    /// --json, on stderr otherwise.
    #[arg(long)]
    comments: bool,
}

/// ANSI styles, empty when colour is off.
struct Style {
    event: &'static str,
    id: &'static str,
    state: &'static str,
    reset: &'static str,
}

impl Style {
    fn new(colour: bool) -> Self {
        if colour {
            Style {
                event: "\x1b[1;36m",
                id: "\x1b[2m",
                state: "\x1b[33m",
                reset: "\x1b[0m",
            }
        } else {
            Style {
                event: "",
                id: "",
                state: "",
                reset: "",
            }
        }
    }
}

/// The response head as JSON: a header seen once is a string, one seen
/// several times (Set-Cookie, say) an array, in the order received.
fn head_json(head: &sse_client::Response) -> serde_json::Value {
    let mut headers = serde_json::Map::new();
    for name in head.headers().keys() {
        let mut values = head
            .headers()
            .get_all(name)
            .iter()
            .map(|v| serde_json::Value::from(String::from_utf8_lossy(v.as_bytes())))
            .collect::<Vec<_>>();
        let value = if values.len() == 1 {
            values.remove(0)
        } else {
            serde_json::Value::Array(values)
        };
        headers.insert(name.as_str().to_owned(), value);
    }
    json!({"state": "open", "status": head.status().as_u16(), "headers": headers})
}

/// Where the output goes, in either format.
struct Printer<W: Write> {
    out: W,
    json: bool,
    style: Style,
}

impl<W: Write> Printer<W> {
    fn state(&mut self, state: &str, reason: Option<&str>) -> io::Result<()> {
        if self.json {
            let line = match reason {
                Some(r) => json!({"state": state, "reason": r}),
                None => json!({"state": state}),
            };
            serde_json::to_writer(&mut self.out, &line)?;
            return self.out.write_all(b"\n");
        }
        // People read state changes as commentary, so they go to stderr
        // and stdout stays pure data for a pipe. What stdout holds goes
        // first: with both in one file (`> log 2>&1`) a buffered event
        // would otherwise land after the "closed" that followed it.
        self.out.flush()?;
        let s = &self.style;
        match reason {
            Some(r) => eprintln!("{}* {state}: {r}{}", s.state, s.reset),
            None => eprintln!("{}* {state}{}", s.state, s.reset),
        }
        Ok(())
    }

    fn open(&mut self, head: Option<&sse_client::Response>) -> io::Result<()> {
        match head {
            Some(head) if self.json => {
                serde_json::to_writer(&mut self.out, &head_json(head))?;
                self.out.write_all(b"\n")
            }
            Some(head) => self.state("open", Some(&head.status().to_string())),
            None => self.state("open", None),
        }
    }

    fn comment(&mut self, text: &str) -> io::Result<()> {
        if self.json {
            serde_json::to_writer(&mut self.out, &json!({ "comment": text }))?;
            return self.out.write_all(b"\n");
        }
        let s = &self.style;
        eprintln!("{}: {text}{}", s.id, s.reset);
        Ok(())
    }

    fn message(&mut self, m: &sse_client::Message) -> io::Result<()> {
        if self.json {
            // Same keys, same order as `sse decode`.
            let line = json!({"type": &*m.event_type, "data": &*m.data, "id": &*m.id});
            serde_json::to_writer(&mut self.out, &line)?;
            return self.out.write_all(b"\n");
        }
        let s = &self.style;
        write!(self.out, "{}event: {}{}", s.event, m.event_type, s.reset)?;
        if !m.id.is_empty() {
            write!(self.out, "  {}id: {}{}", s.id, m.id, s.reset)?;
        }
        writeln!(self.out)?;
        writeln!(self.out, "{}", m.data)?;
        writeln!(self.out)
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(listen(args))
}

fn build(args: &Args) -> anyhow::Result<EventSource> {
    let mut builder = EventSource::builder(&args.url);
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            bail!("header {h:?} is not 'Name: value'");
        };
        builder = builder.header(name.trim(), value.trim());
    }
    let method = args
        .method
        .parse::<sse_client::http::Method>()
        .with_context(|| format!("invalid method {:?}", args.method))?;
    builder = builder.method(method);
    if let Some(body) = &args.data {
        builder = builder.body(body.clone());
    }
    if let Some(id) = &args.last_event_id {
        builder = builder.last_event_id(id.as_str());
    }
    if let Some(secs) = args.timeout {
        let t = Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|t| !t.is_zero())
            .with_context(|| format!("--timeout {secs} is not a positive number of seconds"))?;
        builder = builder.connect_timeout(Some(t)).idle_timeout(Some(t));
    }
    if let Some(path) = &args.cacert {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read --cacert {}", path.display()))?;
        builder = builder.add_root_certificates_pem(&pem);
    }
    if args.insecure {
        eprintln!(
            "sse listen: warning: --insecure: the server's certificate is not checked; \
             anyone on the network path can read and change this stream"
        );
        builder = builder.danger_accept_invalid_certs(true);
    }
    if let Some(url) = &args.proxy {
        builder = builder.proxy(sse_client::Proxy::all(url).context("invalid --proxy")?);
    } else if args.no_proxy {
        builder = builder.no_proxy();
    }
    builder = builder.comments(args.comments);
    let policy = if args.no_reconnect {
        ReconnectPolicy::never()
    } else {
        ReconnectPolicy::default().retry_statuses(args.retry_status.iter().copied())
    };
    builder.reconnect(policy).build().context("cannot listen")
}

async fn listen(args: Args) -> anyhow::Result<ExitCode> {
    let mut es = build(&args)?;
    let colour = !args.json && io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut p = Printer {
        out: io::BufWriter::new(io::stdout().lock()),
        json: args.json,
        style: Style::new(colour),
    };
    p.state("connecting", None)?;
    p.out.flush()?;
    let mut count = 0u64;
    if args.max_events == Some(0) {
        p.state("closed", Some("max events reached"))?;
        p.out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        // Flush only when nothing more is ready: a burst of events costs
        // one write, and a live stream still shows each event at once.
        let event = match es.next().now_or_never() {
            Some(ev) => ev,
            None => {
                p.out.flush()?;
                tokio::select! {
                    ev = es.next() => ev,
                    _ = &mut interrupt => {
                        es.close();
                        p.state("closed", Some("interrupted"))?;
                        p.out.flush()?;
                        return Ok(ExitCode::from(130));
                    }
                }
            }
        };
        let Some(event) = event else {
            // Only reached after a close we did not ask for, which an
            // Error event announced already.
            p.out.flush()?;
            return Ok(ExitCode::SUCCESS);
        };
        match event {
            Event::Open => p.open(es.response())?,
            Event::Comment(text) => p.comment(&text)?,
            Event::Message(m) => {
                p.message(&m)?;
                count += 1;
                if args.max_events.is_some_and(|max| count >= max) {
                    es.close();
                    p.state("closed", Some("max events reached"))?;
                    p.out.flush()?;
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Event::Error {
                error,
                will_reconnect: true,
            } => p.state("connecting", Some(&error.to_string()))?,
            Event::Error {
                error,
                will_reconnect: false,
            } => {
                // 204 is the server's way to say "done"; a clean end that
                // does not reconnect (--no-reconnect, or a POST, which is
                // never sent twice) is the end the user asked for.
                let done = error.is_no_content() || error.is_eof();
                if args.json || done {
                    p.state("closed", Some(&error.to_string()))?;
                }
                p.out.flush()?;
                if done {
                    return Ok(ExitCode::SUCCESS);
                }
                let detail = std::error::Error::source(&error)
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                eprintln!("sse listen: {error}{detail}");
                if matches!(error.status(), Some(401 | 403)) {
                    eprintln!(
                        "sse listen: the stream needs a token that grants these topics: \
                         add -H 'Authorization: Bearer TOKEN' (a first `sse serve` prints one; \
                         `sse token --subscribe TOPIC` mints one)"
                    );
                }
                return Ok(ExitCode::FAILURE);
            }
            _ => {}
        }
    }
}
