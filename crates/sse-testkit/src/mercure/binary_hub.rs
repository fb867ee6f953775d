//! The `sse serve` binary as a Mercure harness: the protocol cases against
//! the program a user runs, configured only through its flags and
//! environment.
//!
//! A case configures its hub by editing a `HubConfig`; [`flags`] turns
//! every setting `sse serve` has a flag for into that flag, and fails the
//! case if anything else was changed (a case needing a setting with no
//! flag runs only in process).

use std::net::SocketAddr;
use std::time::Duration;

use sse_hub::hub::HubConfig;
use sse_hub::subscribe::SubscriptionFormat;

use super::{baseline, MercureHarness, HUB_PATH, PUB_SECRET, SUB_SECRET};
use crate::binary::{SseCommand, SseProcess};
use crate::ports::free_addr;

/// A `sse serve --store memory://` process on a loopback port (the `sse`
/// of [`sse_path`](crate::binary::sse_path)); killed when dropped.
pub struct BinaryHub {
    url: String,
    process: SseProcess,
}

impl MercureHarness for BinaryHub {
    /// Starts the binary with the flags for the configuration `configure`
    /// leaves and waits until `/healthz` answers 200.
    async fn memory(configure: impl FnOnce(&mut HubConfig)) -> Self {
        let addr = free_addr();
        let url = format!("http://{addr}{HUB_PATH}");
        let mut config = baseline(&url);
        configure(&mut config);
        let process = SseCommand::new("serve")
            .args(["--addr", &addr.to_string(), "--store", "memory://"])
            .args(flags(&config, &url))
            .env_clear()
            .env("SSE_PUBLISHER_JWT_KEY", secret(PUB_SECRET))
            .env("SSE_SUBSCRIBER_JWT_KEY", secret(SUB_SECRET))
            .start_healthy(addr)
            .await;
        BinaryHub { url, process }
    }

    /// Kills the process.
    async fn stop(self) {
        self.process.kill();
    }

    fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    fn url(&self) -> &str {
        &self.url
    }
}

fn secret(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("the test secrets are text")
}

fn secs(d: Duration) -> String {
    d.as_secs_f64().to_string()
}

/// The `sse serve` flags for `config`.
///
/// # Panics
///
/// When `config` differs from [`baseline`] in a setting no flag reaches.
pub fn flags(config: &HubConfig, url: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut flag = |name: &str, value: String| {
        out.push(format!("--{name}={value}"));
    };
    let mut rest = config.clone();
    let base = baseline(url);

    flag("allow-anonymous", config.allow_anonymous.to_string());
    for origin in &config.cors_origins {
        flag("cors-origin", origin.clone());
    }
    flag(
        "heartbeat",
        config.heartbeat.map_or_else(|| "0".to_owned(), secs),
    );
    if let Some(r) = config.retry {
        flag("retry", secs(r));
    }
    flag("shutdown-retry", secs(config.shutdown_retry));
    flag("subscriptions", config.subscriptions.to_string());
    flag(
        "subscription-format",
        match config.subscription_format {
            SubscriptionFormat::Json => "json",
            SubscriptionFormat::JsonLd => "jsonld",
            other => panic!("no flag gives subscription format {other:?}"),
        }
        .to_owned(),
    );
    assert_eq!(
        config.auth.legacy_tokens, config.auth.query_token,
        "--legacy turns legacy tokens and query tokens on together"
    );
    flag("legacy", config.auth.legacy_tokens.to_string());
    let l = &config.limits;
    flag("max-connections", l.max_connections.to_string());
    flag("write-timeout", secs(l.write_timeout));
    if let Some(t) = l.max_connection_lifetime {
        flag("max-connection-lifetime", secs(t));
    }
    if let Some(n) = l.max_connections_per_subject {
        flag("max-connections-per-subject", n.to_string());
    }
    flag("queue-frames", l.queue_frames.to_string());
    flag("queue-bytes", l.queue_bytes.to_string());
    let p = &config.publish;
    flag("max-body", p.max_body.to_string());
    flag("max-topics", p.max_topics.to_string());
    flag("max-topic-len", p.max_topic_len.to_string());
    flag("max-id-len", p.max_id_len.to_string());
    flag("max-type-len", p.max_type_len.to_string());
    let s = &config.subscribe;
    flag("max-matchers", s.max_matchers.to_string());
    flag("max-pattern-len", s.max_pattern_len.to_string());
    flag("history-size", config.retention.max_entries().to_string());
    flag("history-bytes", config.retention.max_bytes().to_string());
    if let Some(age) = config.retention.max_age() {
        assert_eq!(age.subsec_nanos(), 0, "--history-age is whole seconds");
        flag("history-age", age.as_secs().to_string());
    }

    // Everything a flag carried, back to the baseline: what is left must
    // be the baseline, or the case asked for something `sse serve` cannot
    // be told.
    rest.allow_anonymous = base.allow_anonymous;
    rest.cors_origins = base.cors_origins.clone();
    rest.heartbeat = base.heartbeat;
    rest.retry = base.retry;
    rest.shutdown_retry = base.shutdown_retry;
    rest.subscriptions = base.subscriptions;
    rest.subscription_format = base.subscription_format;
    rest.auth.legacy_tokens = base.auth.legacy_tokens;
    rest.auth.query_token = base.auth.query_token;
    rest.limits.max_connections = base.limits.max_connections;
    rest.limits.write_timeout = base.limits.write_timeout;
    rest.limits.max_connection_lifetime = base.limits.max_connection_lifetime;
    rest.limits.max_connections_per_subject = base.limits.max_connections_per_subject;
    rest.limits.queue_frames = base.limits.queue_frames;
    rest.limits.queue_bytes = base.limits.queue_bytes;
    rest.publish.max_body = base.publish.max_body;
    rest.publish.max_topics = base.publish.max_topics;
    rest.publish.max_topic_len = base.publish.max_topic_len;
    rest.publish.max_id_len = base.publish.max_id_len;
    rest.publish.max_type_len = base.publish.max_type_len;
    rest.subscribe.max_matchers = base.subscribe.max_matchers;
    rest.subscribe.max_pattern_len = base.subscribe.max_pattern_len;
    rest.retention = base.retention;
    assert_eq!(
        format!("{rest:?}"),
        format!("{base:?}"),
        "the case changed a setting `sse serve` has no flag for: keep it in_process_only!"
    );
    out
}
