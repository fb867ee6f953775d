//! The publisher against a real `sse-hub` on loopback (memory store): what
//! it publishes reaches the crate's own `EventSource` with the exact id,
//! type and data, and each refusal of the hub comes back as its typed
//! error. A small TCP front (counting connections, or answering the first
//! one with a 503 as an overloaded hub would, or hanging up) sits between
//! publisher and hub where a test is about connections or retries; a real
//! tinyproxy where it is about proxies; and the scripted server of
//! `common` for answers no hub gives (huge, not UTF-8, not HTTP).

mod common;

use std::future::IntoFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use sse_client::{EventSource, PublishError, Publisher, Update};
use sse_hub::auth::{mint_hs256, JwtAlgorithm, TokenSpec, VerificationKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PUBLISHER_KEY: &str = "publisher secret of 32 bytes ....";
const SUBSCRIBER_KEY: &str = "subscriber secret of 32 bytes ...";

/// A hub served on a free loopback port.
struct TestHub {
    url: String,
    hub: sse_hub::Hub,
    server: tokio::task::AbortHandle,
    /// The HTTP version of every request the hub saw.
    versions: Arc<Mutex<Vec<http::Version>>>,
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Starts a hub with HS256 publisher and subscriber keys, anonymous
/// subscribers allowed; `tweak` adjusts its configuration; with `tls`,
/// HTTPS (HTTP/2 or HTTP/1.1 by ALPN).
async fn hub_with(
    tweak: impl FnOnce(&mut sse_hub::HubConfig),
    tls: Option<Arc<sse_client::rustls::ServerConfig>>,
) -> TestHub {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!(
        "{scheme}://127.0.0.1:{}/.well-known/mercure",
        listener.local_addr().unwrap().port()
    );
    let mut config = sse_hub::HubConfig::new(url.clone());
    config.auth.publisher_keys =
        vec![VerificationKey::hmac(JwtAlgorithm::HS256, PUBLISHER_KEY.as_bytes()).unwrap()];
    config.auth.subscriber_keys =
        vec![VerificationKey::hmac(JwtAlgorithm::HS256, SUBSCRIBER_KEY.as_bytes()).unwrap()];
    config.allow_anonymous = true;
    tweak(&mut config);
    let store = config.memory_store();
    let hub = sse_hub::Hub::new(config, store).unwrap();
    let versions = Arc::new(Mutex::new(Vec::new()));
    let seen = versions.clone();
    let router = hub.router().layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            seen.lock().unwrap().push(req.version());
            next.run(req)
        },
    ));
    let server = match tls {
        Some(tls) => {
            tokio::spawn(sse_server::serve_tls(listener, router, tls).into_future()).abort_handle()
        }
        None => tokio::spawn(sse_server::serve(listener, router).into_future()).abort_handle(),
    };
    TestHub {
        url,
        hub,
        server,
        versions,
    }
}

async fn hub() -> TestHub {
    hub_with(|_| {}, None).await
}

fn publisher_token(topics: &[&str], audience: &str) -> String {
    mint_hs256(
        PUBLISHER_KEY.as_bytes(),
        &TokenSpec::publisher(audience, topics.iter().copied()),
        now(),
    )
    .unwrap()
}

/// A subscriber to `topic` that replays the hub's whole history first, so
/// nothing published before it connected is missed.
async fn subscriber(hub: &TestHub, topic: &str, token: Option<String>) -> EventSource {
    let mut builder = EventSource::builder(&format!("{}?topic={topic}", hub.url))
        .no_proxy()
        .last_event_id("earliest");
    if let Some(token) = token {
        builder = builder.header("authorization", &format!("Bearer {token}"));
    }
    let mut source = builder.build().unwrap();
    open(&mut source).await;
    source
}

/// A publisher to `url` signing with the hub's key, no proxy.
fn key_publisher(url: &str) -> Publisher {
    Publisher::builder(url)
        .hmac_key(PUBLISHER_KEY)
        .no_proxy()
        .build()
        .unwrap()
}

async fn publish(p: &Publisher, u: &Update) -> Result<String, PublishError> {
    tokio::time::timeout(WAIT, p.publish(u))
        .await
        .expect("publish answers within the bound")
}

#[tokio::test]
async fn a_token_publish_reaches_an_event_source_with_its_id_type_and_data() {
    let hub = hub().await;
    let publisher = Publisher::builder(&hub.url)
        .token(publisher_token(&["urn:t"], &hub.url))
        .no_proxy()
        .build()
        .unwrap();
    let update = Update::new("urn:t")
        .data("line 1\nline 2 é & = +")
        .id("a1")
        .event_type("note")
        .retry(Duration::from_millis(2500));
    assert_eq!(publish(&publisher, &update).await.unwrap(), "a1");
    let generated = publish(&publisher, &Update::new("urn:t").data("second"))
        .await
        .unwrap();
    assert!(generated.starts_with("urn:uuid:"), "{generated}");

    let mut source = subscriber(&hub, "urn:t", None).await;
    let m = message(&mut source).await;
    assert_eq!(
        (&*m.id, &*m.event_type, &*m.data),
        ("a1", "note", "line 1\nline 2 é & = +")
    );
    assert_eq!(source.retry(), Duration::from_millis(2500));
    let m = message(&mut source).await;
    assert_eq!(
        (&*m.id, &*m.event_type, &*m.data),
        (&*generated, "message", "second")
    );
}

#[tokio::test]
async fn a_key_signs_a_token_the_hub_accepts_for_alternate_topics_and_private_updates() {
    let hub = hub().await;
    let publisher = key_publisher(&hub.url);
    let update = Update::new("urn:canonical")
        .topic("urn:alternate")
        .data("for members")
        .id("p1")
        .private(true);
    assert_eq!(publish(&publisher, &update).await.unwrap(), "p1");
    assert_eq!(
        publish(
            &publisher,
            &Update::new("urn:alternate").id("pub1").data("public")
        )
        .await
        .unwrap(),
        "pub1"
    );
    // An anonymous subscriber only sees the public one; one whose token
    // grants the alternate topic sees the private one too.
    let mut anonymous = subscriber(&hub, "urn:alternate", None).await;
    assert_eq!(&*message(&mut anonymous).await.id, "pub1");
    let token = mint_hs256(
        SUBSCRIBER_KEY.as_bytes(),
        &TokenSpec::subscriber(&hub.url, ["urn:alternate"]),
        now(),
    )
    .unwrap();
    let mut member = subscriber(&hub, "urn:alternate", Some(token)).await;
    let m = message(&mut member).await;
    assert_eq!((&*m.id, &*m.data), ("p1", "for members"));
    assert_eq!(&*message(&mut member).await.id, "pub1");
}

#[tokio::test]
async fn refusals_are_typed_errors() {
    let hub = hub_with(|c| c.publish.max_body = 1024, None).await;
    let build = |b: sse_client::PublisherBuilder| b.no_proxy().build().unwrap();
    let update = Update::new("urn:t").data("x");

    let wrong_key = build(Publisher::builder(&hub.url).hmac_key("not the hub's key"));
    let e = publish(&wrong_key, &update).await.unwrap_err();
    assert!(e.is_unauthorized() && !e.is_forbidden(), "{e:?}");
    assert_eq!(e.status(), Some(401));
    let no_token = build(Publisher::builder(&hub.url));
    assert!(publish(&no_token, &update)
        .await
        .unwrap_err()
        .is_unauthorized());
    let other_audience = build(
        Publisher::builder(&hub.url)
            .hmac_key(PUBLISHER_KEY)
            .audience("urn:elsewhere"),
    );
    assert!(publish(&other_audience, &update)
        .await
        .unwrap_err()
        .is_unauthorized());

    let other_topic =
        build(Publisher::builder(&hub.url).token(publisher_token(&["urn:other"], &hub.url)));
    let e = publish(&other_topic, &update).await.unwrap_err();
    assert!(e.is_forbidden(), "{e:?}");
    assert_eq!(e.status(), Some(403));
    let narrow_key = build(
        Publisher::builder(&hub.url)
            .hmac_key(PUBLISHER_KEY)
            .token_topics(["urn:other"]),
    );
    assert!(publish(&narrow_key, &update)
        .await
        .unwrap_err()
        .is_forbidden());
    assert_eq!(
        publish(&narrow_key, &Update::new("urn:other"))
            .await
            .unwrap()
            .len(),
        "urn:uuid:".len() + 36
    );

    let publisher = build(Publisher::builder(&hub.url).hmac_key(PUBLISHER_KEY));
    let e = publish(&publisher, &Update::new("urn:t").data("x".repeat(2000)))
        .await
        .unwrap_err();
    assert!(e.is_too_large(), "{e:?}");
    assert_eq!(
        e.message(),
        Some("request body too large: at most 1024 bytes")
    );
    // The 413 closed its connection; the pool opens another.
    let e = publish(&publisher, &Update::new("urn:t").id("#bad"))
        .await
        .unwrap_err();
    assert!(e.is_bad_request() && !e.is_too_large(), "{e:?}");
    let e = publish(&publisher, &Update::default()).await.unwrap_err();
    assert!(e.is_invalid_update(), "{e:?}");
    assert!(publish(&publisher, &update).await.is_ok());
}

#[tokio::test]
async fn a_hub_shutting_down_is_unavailable_and_a_closed_one_a_transport_error() {
    let hub = hub().await;
    let publisher = key_publisher(&hub.url);
    let update = Update::new("urn:t").data("x");
    publish(&publisher, &update).await.unwrap();
    hub.hub.shutdown().await;
    let e = publish(&publisher, &update).await.unwrap_err();
    assert!(e.is_unavailable() && !e.is_outcome_unknown(), "{e:?}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(e.message(), Some("the hub is shutting down"));

    let url = hub.url.clone();
    drop(hub); // aborts the server: the listener closes
    let fresh = key_publisher(&url);
    let e = publish(&fresh, &update).await.unwrap_err();
    assert!(
        e.is_transport() && e.is_connect() && !e.is_status(),
        "{e:?}"
    );
    assert_eq!(e.status(), None);
}

/// What the front does to the first connections instead of forwarding.
#[derive(Clone, Copy)]
enum Fault {
    /// Answers 503 `the store is busy`, `Retry-After: 0`, and closes.
    Busy,
    /// Reads the request and closes without an answer (a hub that died
    /// mid-publish).
    Hangup,
}

/// A TCP front for the hub: counts connections, and treats the first
/// `refuse` of them as `fault` says instead of forwarding.
struct Front {
    url: String,
    connections: Arc<AtomicUsize>,
}

async fn front(hub: &TestHub, refuse: usize) -> Front {
    front_with(hub, refuse, Fault::Busy).await
}

async fn front_with(hub: &TestHub, refuse: usize, fault: Fault) -> Front {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hub_addr = hub.url.split('/').nth(2).unwrap().to_owned();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let hub_addr = hub_addr.clone();
            tokio::spawn(async move {
                if n < refuse {
                    let mut head = [0u8; 4096];
                    let _ = client.read(&mut head).await;
                    if let Fault::Hangup = fault {
                        return;
                    }
                    let _ = client
                        .write_all(
                            b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 0\r\n\
                              content-length: 17\r\nconnection: close\r\n\r\nthe store is busy",
                        )
                        .await;
                    return;
                }
                let mut upstream = tokio::net::TcpStream::connect(hub_addr.as_str())
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    Front {
        url: format!("http://127.0.0.1:{port}/.well-known/mercure"),
        connections,
    }
}

#[tokio::test]
async fn publishes_reuse_one_kept_alive_connection() {
    let hub = hub().await;
    let front = front(&hub, 0).await;
    let publisher = Publisher::builder(&front.url)
        .hmac_key(PUBLISHER_KEY)
        .audience(&hub.url)
        .no_proxy()
        .build()
        .unwrap();
    for i in 0..5 {
        let id = format!("k{i}");
        assert_eq!(
            publish(&publisher, &Update::new("urn:t").id(&id))
                .await
                .unwrap(),
            id
        );
    }
    assert_eq!(front.connections.load(Ordering::SeqCst), 1);
    let one_per_publish = Publisher::builder(&front.url)
        .hmac_key(PUBLISHER_KEY)
        .audience(&hub.url)
        .pool_max_idle(0)
        .no_proxy()
        .build()
        .unwrap();
    for _ in 0..2 {
        publish(&one_per_publish, &Update::new("urn:t"))
            .await
            .unwrap();
    }
    assert_eq!(front.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn only_an_update_with_an_id_is_retried_and_only_when_asked() {
    let hub = hub().await;
    let build = |url: &str, retries: u32| {
        Publisher::builder(url)
            .hmac_key(PUBLISHER_KEY)
            .audience(&hub.url)
            .retries(retries)
            .no_proxy()
            .build()
            .unwrap()
    };
    // With an id and retries: the 503 is retried, with the same id.
    let front1 = front(&hub, 1).await;
    let id = publish(
        &build(&front1.url, 2),
        &Update::new("urn:r").id("r1").data("once"),
    )
    .await
    .unwrap();
    assert_eq!(id, "r1");
    assert_eq!(front1.connections.load(Ordering::SeqCst), 2);
    // Without an id: never retried, whatever the setting.
    let front2 = front(&hub, 1).await;
    let e = publish(&build(&front2.url, 2), &Update::new("urn:r").data("no id"))
        .await
        .unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert_eq!(e.message(), Some("the store is busy"));
    assert_eq!(e.retry_after(), Some(Duration::ZERO));
    assert_eq!(front2.connections.load(Ordering::SeqCst), 1);
    // With an id but no retries asked for: not retried.
    let front3 = front(&hub, 1).await;
    let e = publish(&build(&front3.url, 0), &Update::new("urn:r").id("r2"))
        .await
        .unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert_eq!(front3.connections.load(Ordering::SeqCst), 1);
    // Retries give up after their count.
    let front4 = front(&hub, 3).await;
    let e = publish(&build(&front4.url, 2), &Update::new("urn:r").id("r3"))
        .await
        .unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert_eq!(front4.connections.load(Ordering::SeqCst), 3);

    // The hub stored exactly the one update that got through.
    let mut source = subscriber(&hub, "urn:r", None).await;
    let m = message(&mut source).await;
    assert_eq!((&*m.id, &*m.data), ("r1", "once"));
    publish(&build(&hub.url, 0), &Update::new("urn:r").id("end"))
        .await
        .unwrap();
    assert_eq!(&*message(&mut source).await.id, "end");
}

#[tokio::test]
async fn https_hub_with_a_private_ca_speaks_http2() {
    let ca = private_ca();
    let tls = ca.server_config(&[b"h2", b"http/1.1"]);
    let hub = hub_with(|_| {}, Some(tls)).await;
    let update = Update::new("urn:t").id("tls1");

    let untrusted = key_publisher(&hub.url);
    let e = publish(&untrusted, &update).await.unwrap_err();
    assert!(e.is_tls() && e.is_transport(), "{e:?}");
    assert!(hub.versions.lock().unwrap().is_empty());

    let publisher = Publisher::builder(&hub.url)
        .hmac_key(PUBLISHER_KEY)
        .add_root_certificates_pem(ca.ca_pem.as_bytes())
        .no_proxy()
        .build()
        .unwrap();
    assert_eq!(publish(&publisher, &update).await.unwrap(), "tls1");
    assert_eq!(
        publish(&publisher, &Update::new("urn:t").id("tls2"))
            .await
            .unwrap(),
        "tls2"
    );
    let h1 = Publisher::builder(&hub.url)
        .hmac_key(PUBLISHER_KEY)
        .add_root_certificates_pem(ca.ca_pem.as_bytes())
        .http2(false)
        .no_proxy()
        .build()
        .unwrap();
    assert_eq!(
        publish(&h1, &Update::new("urn:t").id("tls3"))
            .await
            .unwrap(),
        "tls3"
    );
    let insecure = Publisher::builder(&hub.url)
        .hmac_key(PUBLISHER_KEY)
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .unwrap();
    assert_eq!(
        publish(&insecure, &Update::new("urn:t").id("tls4"))
            .await
            .unwrap(),
        "tls4"
    );
    assert_eq!(
        *hub.versions.lock().unwrap(),
        [
            http::Version::HTTP_2,
            http::Version::HTTP_2,
            http::Version::HTTP_11,
            http::Version::HTTP_2
        ]
    );
}

#[tokio::test]
async fn a_publish_cut_off_by_a_hangup_is_a_transport_error_retried_with_its_id() {
    let hub = hub().await;
    let once = front_with(&hub, 1, Fault::Hangup).await;
    let plain = Publisher::builder(&once.url)
        .hmac_key(PUBLISHER_KEY)
        .audience(&hub.url)
        .no_proxy()
        .build()
        .unwrap();
    let e = publish(&plain, &Update::new("urn:h").id("h1"))
        .await
        .unwrap_err();
    assert!(
        e.is_transport() && !e.is_connect() && !e.is_status(),
        "{e:?}"
    );
    assert_eq!(once.connections.load(Ordering::SeqCst), 1, "not retried");

    let again = front_with(&hub, 1, Fault::Hangup).await;
    let retrying = Publisher::builder(&again.url)
        .hmac_key(PUBLISHER_KEY)
        .audience(&hub.url)
        .retries(1)
        .no_proxy()
        .build()
        .unwrap();
    assert_eq!(
        publish(&retrying, &Update::new("urn:h").id("h2"))
            .await
            .unwrap(),
        "h2"
    );
    assert_eq!(again.connections.load(Ordering::SeqCst), 2);
    // A timeout counts as a transport failure too.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/mercure",
        silent.local_addr().unwrap()
    );
    let impatient = Publisher::builder(&url)
        .hmac_key(PUBLISHER_KEY)
        .timeout(Duration::from_millis(200))
        .no_proxy()
        .build()
        .unwrap();
    let e = publish(&impatient, &Update::new("urn:h"))
        .await
        .unwrap_err();
    assert!(e.is_timeout() && e.is_transport(), "{e:?}");
}

#[tokio::test]
async fn a_proxy_carries_http_with_its_credentials_and_https_through_connect() {
    let Some(proxy) = tinyproxy(Some(("alice", "s3cret"))) else {
        return;
    };
    let hub = hub().await;
    let through = |proxy_url: String| {
        Publisher::builder(&hub.url)
            .hmac_key(PUBLISHER_KEY)
            .proxy(sse_client::Proxy::all(&proxy_url).unwrap())
            .build()
            .unwrap()
    };
    let e = publish(
        &through(format!("http://127.0.0.1:{}", proxy.port)),
        &Update::new("urn:p"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), Some(407), "the proxy wants credentials: {e:?}");
    let with_credentials = through(format!("http://alice:s3cre%74@127.0.0.1:{}", proxy.port));
    assert_eq!(
        publish(
            &with_credentials,
            &Update::new("urn:p").id("via-proxy").data("d")
        )
        .await
        .unwrap(),
        "via-proxy"
    );
    let mut source = subscriber(&hub, "urn:p", None).await;
    assert_eq!(&*message(&mut source).await.id, "via-proxy");

    let ca = private_ca();
    let tls = ca.server_config(&[b"h2", b"http/1.1"]);
    let tls_hub = hub_with(|_| {}, Some(tls)).await;
    let tunnelled = Publisher::builder(&tls_hub.url)
        .hmac_key(PUBLISHER_KEY)
        .add_root_certificates_pem(ca.ca_pem.as_bytes())
        .proxy(
            sse_client::Proxy::all(&format!("http://alice:s3cret@127.0.0.1:{}", proxy.port))
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        publish(&tunnelled, &Update::new("urn:p").id("tunnelled"))
            .await
            .unwrap(),
        "tunnelled"
    );
    assert_eq!(*tls_hub.versions.lock().unwrap(), [http::Version::HTTP_2]);
}

#[tokio::test]
async fn cleartext_http2_with_prior_knowledge() {
    let hub = hub().await;
    let h2c = Publisher::builder(&hub.url)
        .hmac_key(PUBLISHER_KEY)
        .http2_prior_knowledge(true)
        .no_proxy()
        .build()
        .unwrap();
    for id in ["c1", "c2"] {
        assert_eq!(
            publish(&h2c, &Update::new("urn:t").id(id)).await.unwrap(),
            id
        );
    }
    assert_eq!(
        *hub.versions.lock().unwrap(),
        [http::Version::HTTP_2, http::Version::HTTP_2]
    );
}

/// Whatever answers in the hub's place cannot make the publisher buffer
/// more than 64 KiB, nor panic it.
#[tokio::test]
async fn a_huge_or_odd_answer_is_bounded_and_typed() {
    let huge = "x".repeat(100 * 1024);
    let answers = [
        head("200 OK", "text/plain", &huge),
        head("503 Service Unavailable", "text/plain", &huge),
        head("200 OK", "text/plain", ""),
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n\xff\xfe".to_vec(),
        b"HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 0\r\n\r\n".to_vec(),
        b"not http at all\r\n\r\n".to_vec(),
    ];
    let answers = Arc::new(answers);
    let replies = answers.clone();
    let server = serve(move |req| Reply::Close(replies[req.conn].clone())).await;
    let publisher = Publisher::builder(&server.url)
        .token("t")
        .pool_max_idle(0)
        .no_proxy()
        .build()
        .unwrap();
    let update = Update::new("urn:t");
    let e = publish(&publisher, &update).await.unwrap_err();
    assert!(e.is_invalid_answer(), "{e:?}");
    let e = publish(&publisher, &update).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert_eq!(
        e.message().map(str::len),
        Some(sse_client::publish::MAX_ANSWER)
    );
    assert_eq!(e.retry_after(), None);
    let e = publish(&publisher, &update).await.unwrap_err();
    assert!(e.is_invalid_answer(), "an empty id: {e:?}");
    let e = publish(&publisher, &update).await.unwrap_err();
    assert!(e.is_invalid_answer(), "not UTF-8: {e:?}");
    let e = publish(&publisher, &update).await.unwrap_err();
    assert_eq!(e.status(), Some(302), "redirects are not followed: {e:?}");
    let e = publish(&publisher, &update).await.unwrap_err();
    assert!(e.is_transport() && !e.is_status(), "{e:?}");
}
