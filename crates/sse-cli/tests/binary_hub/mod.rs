//! `TestHub` for the protocol cases, backed by a running `sse serve`: the
//! same cases `sse-hub` runs in process (`hub_support/cases.rs`), here
//! against the binary a user runs, configured only through its flags and
//! environment.
//!
//! A case configures its hub by editing a `HubConfig`; [`flags`] turns
//! every setting `sse serve` has a flag for into that flag, and fails the
//! case if anything else was changed (a case needing a setting with no
//! flag belongs in `in_process_only!`).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::hub_support::{HubClient, HUB_PATH, PUB_SECRET, SUB_SECRET, WAIT};
use sse_hub::auth::{JwtAlgorithm, VerificationKey};
use sse_hub::hub::HubConfig;
use sse_hub::subscribe::SubscriptionFormat;

/// A `sse serve --store memory://` process on a loopback port; killed when
/// dropped.
pub struct TestHub {
    pub addr: SocketAddr,
    pub url: String,
    child: Child,
}

impl HubClient for TestHub {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn url(&self) -> &str {
        &self.url
    }
}

impl TestHub {
    /// Starts the binary with the flags for the configuration `configure`
    /// leaves (starting from the in-process harness's defaults: the test
    /// keys, anonymous subscribers allowed) and waits until it answers.
    pub async fn memory(configure: impl FnOnce(&mut HubConfig)) -> TestHub {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let url = format!("http://{addr}{HUB_PATH}");
        let mut config = baseline(&url);
        configure(&mut config);
        let args = flags(&config, &url);
        let child = Command::new(env!("CARGO_BIN_EXE_sse"))
            .arg("serve")
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--store")
            .arg("memory://")
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SSE_LOG", "warn")
            .env("SSE_PUBLISHER_JWT_KEY", secret(PUB_SECRET))
            .env("SSE_SUBSCRIBER_JWT_KEY", secret(SUB_SECRET))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start sse serve");
        let mut hub = TestHub { addr, url, child };
        hub.wait_ready(&args).await;
        hub
    }

    /// Polls `/healthz` until the hub answers 200.
    async fn wait_ready(&mut self, args: &[String]) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sse serve {args:?} exited at start: {status}");
            }
            if let Ok(mut sock) = tokio::net::TcpStream::connect(self.addr).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let ok = sock
                    .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    .await
                    .is_ok();
                let mut head = [0u8; 12];
                if ok && sock.read_exact(&mut head).await.is_ok() && &head[9..12] == b"200" {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "sse serve never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the process.
    pub async fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn secret(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("the test secrets are text")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The in-process harness's starting configuration (`TestHub::start` in
/// `hub_support`), which cases adjust.
fn baseline(url: &str) -> HubConfig {
    let mut config = HubConfig::new(url);
    config.auth.publisher_keys =
        vec![VerificationKey::hmac(JwtAlgorithm::HS256, PUB_SECRET).unwrap()];
    config.auth.subscriber_keys =
        vec![VerificationKey::hmac(JwtAlgorithm::HS256, SUB_SECRET).unwrap()];
    config.allow_anonymous = true;
    config
}

fn secs(d: Duration) -> String {
    d.as_secs_f64().to_string()
}

/// The `sse serve` flags for `config`; panics if `config` differs from
/// the baseline in a setting no flag reaches.
fn flags(config: &HubConfig, url: &str) -> Vec<String> {
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
