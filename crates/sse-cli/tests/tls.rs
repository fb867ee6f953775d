//! `sse serve --tls-cert/--tls-key`: HTTPS with HTTP/2 and HTTP/1.1 chosen
//! by ALPN, against a certificate generated for the test; and cleartext
//! HTTP/2 (h2c, prior knowledge) on a plain hub, as a proxy speaks it.
//!
//! The HTTP/2 case holds many subscriptions on one connection, which is
//! why a browser wants HTTP/2: over HTTP/1.1 it allows six connections per
//! origin, so a seventh `EventSource` would wait.

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sse_hub::auth::{mint_hs256, TokenSpec};
use sse_testkit::binary::{SseCommand, SseProcess};
use sse_testkit::ports::free_addr;
use sse_testkit::tls::SelfSigned;
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);
const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";
const TOPIC: &str = "https://example.com/books/1";
/// More than HTTP/1.1's six connections per origin.
const STREAMS: usize = 10;

/// Starts `sse serve` on a free port with `extra` flags and waits until it
/// accepts connections; killed when dropped.
fn start(extra: &[&str]) -> SseProcess {
    let addr = free_addr();
    SseCommand::new("serve")
        .args(["--store", "memory://", "--audience", "test-hub"])
        .args(["--addr", &addr.to_string()])
        .args(extra)
        .env("SSE_PUBLISHER_JWT_KEY", SECRET)
        .env("SSE_SUBSCRIBER_JWT_KEY", SECRET)
        .start_listening(addr)
}

fn token(spec: TokenSpec) -> String {
    mint_hs256(SECRET.as_bytes(), &spec, now()).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The test certificate, and `sse serve` with it.
struct Pki(SelfSigned);

impl Pki {
    fn new() -> Pki {
        Pki(SelfSigned::new())
    }

    /// `sse serve` with this certificate and key.
    fn start_hub(&self) -> SseProcess {
        start(&[
            "--tls-cert",
            &self.path("cert.pem"),
            "--tls-key",
            &self.path("key.pem"),
        ])
    }

    fn path(&self, name: &str) -> String {
        self.0.dir().join(name).display().to_string()
    }

    async fn connect(
        &self,
        port: u16,
        alpn: &[&[u8]],
    ) -> tokio_rustls::client::TlsStream<TcpStream> {
        self.0.connect(([127, 0, 0, 1], port).into(), alpn).await
    }
}

fn subscribe_request(scheme: &str) -> http::Request<Empty<Bytes>> {
    let sub = token(TokenSpec::subscriber("test-hub", [TOPIC]));
    http::Request::get(format!(
        "{scheme}://localhost/.well-known/mercure?topic={}",
        url::form_urlencoded::byte_serialize(TOPIC.as_bytes()).collect::<String>()
    ))
    .header("accept", "text/event-stream")
    .header("authorization", format!("Bearer {sub}"))
    .body(Empty::new())
    .unwrap()
}

fn publish_request(scheme: &str, data: &str) -> http::Request<Full<Bytes>> {
    let publisher = token(TokenSpec::publisher("test-hub", [TOPIC]));
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("topic", TOPIC)
        .append_pair("data", data)
        .append_pair("private", "on")
        .finish();
    http::Request::post(format!("{scheme}://localhost/.well-known/mercure"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Bearer {publisher}"))
        .body(Full::new(Bytes::from(form)))
        .unwrap()
}

/// Reads `body` until `needle` has arrived.
async fn read_until(body: &mut Incoming, needle: &str) -> String {
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let frame = body.frame().await.expect("stream open").unwrap();
            if let Ok(data) = frame.into_data() {
                seen.extend_from_slice(&data);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{needle:?} never arrived; got {seen:?}"));
    String::from_utf8(seen).unwrap()
}

/// Opens `STREAMS` subscriptions on one HTTP/2 connection over `io`, then
/// publishes with `publish` and checks every stream receives the update.
async fn many_streams_on_one_connection<T, F, Fut>(io: T, scheme: &str, publish: F)
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut bodies = Vec::new();
    for _ in 0..STREAMS {
        let mut send = send.clone();
        let response = tokio::time::timeout(WAIT, send.send_request(subscribe_request(scheme)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        bodies.push(response.into_body());
    }
    let id = publish().await;
    for body in &mut bodies {
        let text = read_until(body, "data: over h2\n\n").await;
        assert!(text.contains(&format!("id: {id}\n")), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_negotiates_http2_and_holds_many_streams_on_one_connection() {
    let pki = Pki::new();
    let hub = pki.start_hub();
    let tls = pki.connect(hub.addr().port(), &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let publish_over_http1 = || async {
        // The publisher offers only HTTP/1.1 and gets it.
        let tls = pki.connect(hub.addr().port(), &[b"http/1.1"]).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        let response = send
            .send_request(publish_request("https", "over h2"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_11);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    };
    many_streams_on_one_connection(TokioIo::new(tls), "https", publish_over_http1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_http2_with_prior_knowledge_behind_a_proxy() {
    let hub = start(&[]);
    let tcp = TcpStream::connect(("127.0.0.1", hub.addr().port()))
        .await
        .unwrap();
    let port = hub.addr().port();
    let publish_over_h2c = || async move {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        let response = send
            .send_request(publish_request("http", "over h2"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    };
    many_streams_on_one_connection(TokioIo::new(tcp), "http", publish_over_h2c).await;
}

/// Runs `sse listen` until it prints its JSON `open` line (then stops it),
/// or until it exits; returns that line (empty if none), stderr and
/// whether it exited by itself.
fn listen_until_open(args: &[&str]) -> (String, String, bool) {
    use std::io::{BufRead, BufReader, Read};
    let mut child = Command::new(env!("CARGO_BIN_EXE_sse"))
        .arg("listen")
        .args(args)
        .args(["--json", "--no-reconnect", "--no-proxy"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if line.starts_with(r#"{"state":"open""#) {
                let _ = tx.send(line);
                return;
            }
        }
        let _ = tx.send(String::new());
    });
    let line = rx
        .recv_timeout(WAIT)
        .expect("sse listen neither opened nor exited");
    let exited = child.try_wait().unwrap().is_some() || line.is_empty();
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (line, err, exited)
}

#[test]
fn listen_trusts_a_cacert_and_insecure_warns() {
    let pki = Pki::new();
    let hub = pki.start_hub();
    let sub = token(TokenSpec::subscriber("test-hub", [TOPIC]));
    let url = format!(
        "https://localhost:{}/.well-known/mercure?topic={}",
        hub.addr().port(),
        url::form_urlencoded::byte_serialize(TOPIC.as_bytes()).collect::<String>()
    );
    let auth = format!("Authorization: Bearer {sub}");
    // Unknown CA: the handshake fails and the command ends.
    let (line, err, exited) = listen_until_open(&[&url, "-H", &auth]);
    assert!(line.is_empty() && exited, "{line}");
    assert!(err.contains("TLS handshake"), "{err}");
    // --cacert: trusted; the open line carries the status and headers.
    let (line, err, _) = listen_until_open(&[&url, "-H", &auth, "--cacert", &pki.path("cert.pem")]);
    let open: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(open["status"], 200, "{line} {err}");
    assert!(
        open["headers"]["content-type"]
            .as_str()
            .is_some_and(|ct| ct.starts_with("text/event-stream")),
        "{line}"
    );
    assert!(!err.contains("warning"), "{err}");
    // --insecure: no CA needed, and a warning says what that costs.
    let (line, err, _) = listen_until_open(&[&url, "-H", &auth, "--insecure"]);
    assert!(line.contains(r#""status":200"#), "{line} {err}");
    assert!(err.contains("warning: --insecure"), "{err}");
    // A file that is not PEM certificates is refused before connecting.
    let (line, err, exited) = listen_until_open(&[&url, "--cacert", &pki.path("key.pem")]);
    assert!(
        line.is_empty() && exited && err.contains("no CERTIFICATE"),
        "{err}"
    );
}

/// `sse publish --cacert PEM` trusts a private CA's certificate (parsed
/// with rustls-pki-types), and without it the hub's certificate is refused.
#[test]
fn publish_trusts_the_certificate_given_with_cacert() {
    let pki = Pki::new();
    let hub = start(&[
        "--tls-cert",
        &pki.path("cert.pem"),
        "--tls-key",
        &pki.path("key.pem"),
    ]);
    let url = format!(
        "https://localhost:{}/.well-known/mercure",
        hub.addr().port()
    );
    let publisher = token(TokenSpec::publisher("test-hub", [TOPIC]));
    let publish = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sse"))
            .args(["publish", "--hub", &url, "--topic", TOPIC, "--data", "x"])
            .args(["--token", &publisher])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = publish(&["--cacert", &pki.path("cert.pem")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = publish(&[]);
    assert!(
        !out.status.success(),
        "a private CA is not trusted by default"
    );
    std::fs::write(
        pki.0.dir().join("bad.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let out = publish(&["--cacert", &pki.path("bad.pem")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.pem"), "{err}");
}
