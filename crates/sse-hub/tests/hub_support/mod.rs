//! Test harness for the hub's HTTP layer: a hub served by
//! `sse_server::serve` on 127.0.0.1:0, a raw HTTP/1.1 client over tokio TCP
//! (so the tests see exactly the bytes on the wire), an SSE event parser and
//! token helpers. Every wait is bounded by [`WAIT`].

#![allow(dead_code)]

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sse_hub::auth::{JwtAlgorithm, VerificationKey};
use sse_hub::hub::{Hub, HubConfig};
use sse_hub::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// The bound of every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(15);
pub const PUB_SECRET: &[u8] = b"publisher-secret-publisher-secret!";
pub const SUB_SECRET: &[u8] = b"subscriber-secret-subscriber-secret";
pub const TYPE_H: &str = "https://mercure.rocks/authorization-detail";
pub const HUB_PATH: &str = "/.well-known/mercure";

/// Awaits `f` or fails the test after [`WAIT`].
pub async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// A hub on a loopback port.
pub struct TestHub {
    pub addr: SocketAddr,
    pub hub: Hub,
    pub url: String,
    server: JoinHandle<std::io::Result<()>>,
}

impl TestHub {
    /// Binds a port, lets `configure` adjust the config (whose hub URL and
    /// audience are this port's), and serves the hub on `store`.
    pub async fn start(store: Arc<dyn Store>, configure: impl FnOnce(&mut HubConfig)) -> TestHub {
        Self::start_with(configure, |_| store).await
    }

    /// A hub on a fresh memory store with the configured retention (as
    /// `sse serve --store memory://` builds it).
    pub async fn memory(configure: impl FnOnce(&mut HubConfig)) -> TestHub {
        Self::start_with(configure, |c| c.memory_store() as Arc<dyn Store>).await
    }

    async fn start_with(
        configure: impl FnOnce(&mut HubConfig),
        store: impl FnOnce(&HubConfig) -> Arc<dyn Store>,
    ) -> TestHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}{HUB_PATH}");
        let mut config = HubConfig::new(url.clone());
        config.auth.publisher_keys =
            vec![VerificationKey::hmac(JwtAlgorithm::HS256, PUB_SECRET).unwrap()];
        config.auth.subscriber_keys =
            vec![VerificationKey::hmac(JwtAlgorithm::HS256, SUB_SECRET).unwrap()];
        // Most tests subscribe anonymously; the policy tests turn it off.
        config.allow_anonymous = true;
        configure(&mut config);
        let store = store(&config);
        let hub = Hub::new(config, store).unwrap();
        let server = tokio::spawn(sse_server::serve(listener, hub.router()).into_future());
        TestHub {
            addr,
            hub,
            url,
            server,
        }
    }

    /// Shuts the hub down (store closed) and stops the server.
    pub async fn stop(self) {
        self.hub.shutdown().await;
        self.server.abort();
        let _ = self.server.await;
    }
}

/// Requests to a hub under test, in process ([`TestHub`]) or a running
/// `sse serve` (the binary's own harness): the protocol cases are written
/// once against this.
#[allow(async_fn_in_trait)]
pub trait HubClient {
    /// The hub's socket address.
    fn addr(&self) -> SocketAddr;
    /// The hub URL, also the token audience.
    fn url(&self) -> &str;

    async fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        request(self.addr(), method, target, headers, body).await
    }

    async fn get(&self, target: &str, headers: &[(&str, &str)]) -> Resp {
        self.request("GET", target, headers, b"").await
    }

    /// A token for this hub's audience, signed with `secret`.
    fn token(&self, secret: &[u8], actions: &[&str], topics: Vec<Value>, exp_in: i64) -> String {
        sign(secret, &claims(self.url(), actions, topics, exp_in))
    }

    /// A publisher token for every topic.
    fn pub_token(&self) -> String {
        self.token(PUB_SECRET, &["publish"], vec![exact("*")], 3600)
    }

    /// A subscriber token for `topics`.
    fn sub_token(&self, topics: Vec<Value>) -> String {
        self.token(SUB_SECRET, &["subscribe"], topics, 3600)
    }

    /// Publishes a form body with a publisher token for every topic.
    async fn publish(&self, form: &str) -> Resp {
        let token = self.pub_token();
        self.publish_with(form, &token).await
    }

    async fn publish_with(&self, form: &str, token: &str) -> Resp {
        let auth = format!("Bearer {token}");
        self.request(
            "POST",
            HUB_PATH,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &auth),
            ],
            form.as_bytes(),
        )
        .await
    }

    /// Publishes and returns the id, asserting a 200.
    async fn publish_ok(&self, form: &str) -> String {
        let r = self.publish(form).await;
        assert_eq!(r.status, 200, "publish {form:?}: {}", r.text());
        r.text()
    }

    /// Opens a stream; panics unless it is a 200 event stream.
    async fn subscribe(&self, query: &str, headers: &[(&str, &str)]) -> Sse {
        match self.try_subscribe(query, headers).await {
            Ok(s) => s,
            Err(r) => panic!("subscribe {query:?} failed: {} {}", r.status, r.text()),
        }
    }

    /// Opens a stream, or returns the non-stream answer.
    async fn try_subscribe(&self, query: &str, headers: &[(&str, &str)]) -> Result<Sse, Resp> {
        Sse::open(self.addr(), &format!("{HUB_PATH}?{query}"), headers, None).await
    }
}

impl HubClient for TestHub {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn url(&self) -> &str {
        &self.url
    }
}

/// An HTTP answer read to its end.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

fn write_request(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut req = format!("{method} {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "QUERY" {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    if close {
        req.push_str("connection: close\r\n");
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One request on a fresh connection (`Connection: close`), read to the end.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    bounded("an HTTP response", async {
        let mut sock = TcpStream::connect(addr).await.unwrap();
        sock.write_all(&write_request(method, target, headers, body, true))
            .await
            .unwrap();
        let mut raw = Vec::new();
        sock.read_to_end(&mut raw).await.unwrap();
        let (status, headers, head_len) = parse_head(&raw).expect("a complete response head");
        let rest = &raw[head_len..];
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        let body = if chunked {
            let mut out = Vec::new();
            let mut raw = rest.to_vec();
            decode_chunks(&mut raw, &mut out);
            out
        } else {
            rest.to_vec()
        };
        Resp {
            status,
            headers,
            body,
        }
    })
    .await
}

/// Header names (lowercase) and values, in order.
pub type Headers = Vec<(String, String)>;

/// Status, headers and head length of a complete response head.
fn parse_head(raw: &[u8]) -> Option<(u16, Headers, usize)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some((status, headers, end))
}

/// Moves complete chunks from `raw` to `out`; `true` once the last chunk
/// was seen.
fn decode_chunks(raw: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return false;
        };
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return true;
        }
        let start = line_end + 2;
        if raw.len() < start + size + 2 {
            return false;
        }
        out.extend_from_slice(&raw[start..start + size]);
        raw.drain(..start + size + 2);
    }
}

/// One SSE event as a client sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ev {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub retry: Option<u64>,
    /// The raw text of the event, for byte-level checks.
    pub raw: String,
}

/// An open event stream.
pub struct Sse {
    sock: TcpStream,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    raw: Vec<u8>,
    text: Vec<u8>,
    ended: bool,
}

impl Sse {
    /// Connects and reads the head; `recv_buffer` shrinks the socket's
    /// receive buffer (a client that stalls sooner).
    pub async fn open(
        addr: SocketAddr,
        target: &str,
        headers: &[(&str, &str)],
        recv_buffer: Option<u32>,
    ) -> Result<Sse, Resp> {
        Self::open_with("GET", addr, target, headers, b"", recv_buffer).await
    }

    pub async fn open_with(
        method: &str,
        addr: SocketAddr,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        recv_buffer: Option<u32>,
    ) -> Result<Sse, Resp> {
        bounded("a stream head", async {
            let socket = TcpSocket::new_v4().unwrap();
            if let Some(size) = recv_buffer {
                socket.set_recv_buffer_size(size).unwrap();
            }
            let mut sock = socket.connect(addr).await.unwrap();
            let mut all_headers = vec![("accept", "text/event-stream")];
            all_headers.extend_from_slice(headers);
            sock.write_all(&write_request(method, target, &all_headers, body, false))
                .await
                .unwrap();
            let mut raw = Vec::new();
            let (status, headers, head_len) = loop {
                if let Some(head) = parse_head(&raw) {
                    break head;
                }
                let mut buf = [0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap();
                assert!(n > 0, "connection closed before the response head");
                raw.extend_from_slice(&buf[..n]);
            };
            raw.drain(..head_len);
            let is_stream = status == 200
                && headers
                    .iter()
                    .any(|(n, v)| n == "content-type" && v.starts_with("text/event-stream"));
            if !is_stream {
                // Read the rest of a plain answer (content-length or chunked).
                let len = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse::<usize>().ok());
                let chunked = headers.iter().any(|(n, _)| n == "transfer-encoding");
                let body;
                loop {
                    if let Some(len) = len {
                        if raw.len() >= len {
                            body = raw[..len].to_vec();
                            break;
                        }
                    } else if chunked {
                        let mut copy = raw.clone();
                        let mut out = Vec::new();
                        if decode_chunks(&mut copy, &mut out) {
                            body = out;
                            break;
                        }
                    }
                    let mut buf = [0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        body = raw.clone();
                        break;
                    }
                    raw.extend_from_slice(&buf[..n]);
                }
                return Err(Resp {
                    status,
                    headers,
                    body,
                });
            }
            Ok(Sse {
                sock,
                status,
                headers,
                raw,
                text: Vec::new(),
                ended: false,
            })
        })
        .await
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn take_event(&mut self) -> Option<Ev> {
        loop {
            let end = self.text.windows(2).position(|w| w == b"\n\n")?;
            let block: Vec<u8> = self.text.drain(..end + 2).collect();
            let block = String::from_utf8(block).expect("UTF-8 stream");
            let mut ev = Ev {
                raw: block.clone(),
                ..Ev::default()
            };
            let mut any_field = false;
            for line in block.trim_end_matches('\n').split('\n') {
                if line.starts_with(':') {
                    continue;
                }
                any_field = true;
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match name {
                    "id" => ev.id = Some(value.to_owned()),
                    "event" => ev.event = Some(value.to_owned()),
                    "retry" => ev.retry = value.parse().ok(),
                    "data" => {
                        ev.data = Some(match ev.data.take() {
                            Some(d) => format!("{d}\n{value}"),
                            None => value.to_owned(),
                        })
                    }
                    other => panic!("unexpected field {other:?} in {block:?}"),
                }
            }
            if any_field {
                return Some(ev);
            }
        }
    }

    async fn fill(&mut self) -> bool {
        if self.ended {
            return false;
        }
        let before = self.text.len();
        if decode_chunks(&mut self.raw, &mut self.text) {
            self.ended = true;
            return true;
        }
        if self.text.len() > before {
            // Bytes that came with the head (or an earlier read) decoded
            // into events: no need to wait for the socket.
            return true;
        }
        let mut buf = vec![0u8; 16 * 1024];
        let n = self.sock.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            self.ended = true;
            return true;
        }
        self.raw.extend_from_slice(&buf[..n]);
        if decode_chunks(&mut self.raw, &mut self.text) {
            self.ended = true;
        }
        true
    }

    /// The next event with a field (comments skipped); `None` when the
    /// stream ended. Bounded by [`WAIT`].
    pub async fn next(&mut self) -> Option<Ev> {
        bounded("an event", async {
            loop {
                if let Some(ev) = self.take_event() {
                    return Some(ev);
                }
                if !self.fill().await {
                    return None;
                }
                if self.ended {
                    return self.take_event();
                }
            }
        })
        .await
    }

    /// The next event that carries data (skips `retry:`-only events).
    pub async fn next_update(&mut self) -> Ev {
        loop {
            match self.next().await {
                Some(ev) if ev.data.is_some() => return ev,
                Some(_) => continue,
                None => panic!("the stream ended while waiting for an update"),
            }
        }
    }

    /// Waits for the stream to end; returns the events seen before.
    pub async fn until_end(&mut self) -> Vec<Ev> {
        let mut seen = Vec::new();
        while let Some(ev) = self.next().await {
            seen.push(ev);
        }
        seen
    }

    /// Reads once more and tells whether the decoded body so far contains
    /// `needle` (comments included). Loop on it inside [`bounded`].
    pub async fn raw_text_contains(&mut self, needle: &str) -> bool {
        let needle = needle.as_bytes();
        if self.text.windows(needle.len()).any(|w| w == needle) {
            return true;
        }
        if !self.fill().await {
            tokio::task::yield_now().await;
        }
        self.text.windows(needle.len()).any(|w| w == needle)
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs an H access token (`typ: at+jwt`) with HS256.
pub fn sign(secret: &[u8], claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// Signs a legacy (0.x) token: no `typ`, a `mercure` claim.
pub fn sign_legacy(secret: &[u8], claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// An exact (or `*`) topic matcher entry.
pub fn exact(m: &str) -> Value {
    json!({"match": m})
}

/// A URL-pattern matcher entry.
pub fn pattern(m: &str) -> Value {
    json!({"match": m, "match_type": "urlpattern"})
}

/// H claims for `aud` granting `actions` on `topics`, expiring in `exp_in` s.
pub fn claims(aud: &str, actions: &[&str], topics: Vec<Value>, exp_in: i64) -> Value {
    json!({
        "aud": aud,
        "exp": (now() as i64 + exp_in),
        "sub": "tester",
        "authorization_details": [{"type": TYPE_H, "actions": actions, "topics": topics}],
    })
}

/// URL-encodes a form value.
pub fn enc(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
