//! `sse publish`: one update to a Mercure hub through
//! [`sse_client::Publisher`]; prints the id the hub gave it.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use sse_client::{Publisher, Update};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The hub URL, e.g. http://127.0.0.1:3000/.well-known/mercure.
    #[arg(long, env = "SSE_HUB", value_name = "URL")]
    hub: String,
    /// The topic (repeat for alternates; the first is canonical).
    #[arg(long = "topic", required = true, value_name = "IRI")]
    topics: Vec<String>,
    /// The data; `@FILE` reads a file, `-` reads standard input.
    #[arg(long, default_value = "", value_name = "DATA")]
    data: String,
    /// Make the update private.
    #[arg(long)]
    private: bool,
    /// The update's id (default: the hub generates one).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// The SSE event type.
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// The SSE retry value in milliseconds.
    #[arg(long, value_name = "MS")]
    retry: Option<u64>,
    /// A publisher token (JWT).
    #[arg(
        long,
        env = "SSE_TOKEN",
        value_name = "JWT",
        conflicts_with = "key",
        hide_env_values = true
    )]
    token: Option<String>,
    /// An HS256 secret to sign a short-lived token for these topics with.
    #[arg(
        long,
        env = "SSE_PUBLISHER_JWT_KEY",
        value_name = "SECRET",
        hide_env_values = true
    )]
    key: Option<String>,
    /// The audience for a token made with --key (default: the hub URL).
    #[arg(long, value_name = "ID")]
    audience: Option<String>,
    /// Trust this PEM certificate (for a hub with a self-signed one).
    #[arg(long, value_name = "PEM")]
    cacert: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    timeout: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let id = runtime.block_on(publish(args))?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

async fn publish(args: Args) -> anyhow::Result<String> {
    let data = match args.data.as_str() {
        "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the data from standard input")?;
            s
        }
        d if d.starts_with('@') => {
            std::fs::read_to_string(&d[1..]).with_context(|| format!("cannot read {}", &d[1..]))?
        }
        d => d.to_owned(),
    };
    // As before the library did the HTTP: straight to the hub (no proxy
    // variables), a key-signed token granting exactly these topics for
    // five minutes, the timeout over the whole exchange, no retry.
    let mut builder = Publisher::builder(&args.hub)
        .no_proxy()
        .timeout(Duration::from_secs(args.timeout));
    if let Some(token) = args.token {
        builder = builder.token(token);
    } else if let Some(key) = args.key {
        builder = builder
            .hmac_key(key)
            .token_topics(args.topics.iter().cloned())
            .token_ttl(Duration::from_secs(300));
        if let Some(audience) = args.audience {
            builder = builder.audience(audience);
        }
    }
    if let Some(path) = &args.cacert {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        builder = builder.add_root_certificates_pem(&pem);
    }
    let publisher = builder.build().with_context(|| match &args.cacert {
        Some(path) => format!("--hub {:?} / --cacert {}", args.hub, path.display()),
        None => format!("--hub {:?}", args.hub),
    })?;

    let mut update = Update::default()
        .topics(args.topics)
        .data(data)
        .private(args.private);
    if let Some(id) = args.id {
        update = update.id(id);
    }
    if let Some(t) = args.event_type {
        update = update.event_type(t);
    }
    if let Some(ms) = args.retry {
        update = update.retry(Duration::from_millis(ms));
    }
    Ok(publisher.publish(&update).await?)
}
