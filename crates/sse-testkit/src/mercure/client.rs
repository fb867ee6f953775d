//! A raw HTTP/1.1 client over tokio TCP, so that a test sees exactly the
//! bytes on the wire (no client library normalizing headers or bodies): a
//! request read to its end ([`request`], [`Resp`]), an open event stream
//! read event by event ([`Sse`], [`Ev`]), and the token and form helpers
//! of the protocol cases. Every wait is bounded by [`WAIT`].

use std::future::Future;
use std::net::SocketAddr;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::mercure::{TYPE_H, WAIT};

/// Awaits `f`, or fails the test after [`WAIT`].
///
/// # Panics
///
/// When `f` has not finished within [`WAIT`].
pub async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// `Bearer <token>`, an `Authorization` value.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// An HTTP answer read to its end.
#[derive(Debug)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Headers,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Resp {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (any case), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    ///
    /// # Panics
    ///
    /// When the body is not JSON.
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

/// One request on a fresh connection (`Connection: close`), read to the
/// end.
///
/// # Panics
///
/// When the connection fails, the response head is incomplete, or the
/// answer has not ended within [`WAIT`].
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
    /// The `id` field.
    pub id: Option<String>,
    /// The `event` field.
    pub event: Option<String>,
    /// The `data` lines, joined with `\n`.
    pub data: Option<String>,
    /// The `retry` field, when it is a number.
    pub retry: Option<u64>,
    /// The raw text of the event, for byte-level checks.
    pub raw: String,
}

/// An open event stream.
pub struct Sse {
    sock: TcpStream,
    /// The status code (200).
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Headers,
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

    /// As [`open`](Self::open), with another method (`QUERY`) and a body.
    ///
    /// # Panics
    ///
    /// When the connection fails or closes before the response head, or
    /// nothing arrives within [`WAIT`].
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

    /// The first value of response header `name` (any case).
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

/// Seconds since the Unix epoch.
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
