//! A small SSE fan-out server on raw tokio, for testing the load generator
//! against a real HTTP peer. It can misbehave on purpose: drop or duplicate
//! updates, answer subscribers with a wrong status or content type, send
//! close-delimited bodies, split events across chunks.
//!
//! Routes: `GET /sub?topic=T` (or `?id=T`, or `/.well-known/mercure?topic=T`)
//! subscribes; `POST /pub?topic=T` with the data as the body, or
//! `POST /.well-known/mercure` with a form `topic=T&data=D`, publishes.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How the server (mis)behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Deliver no subscriber the publishes numbered `k-1, 2k-1, …`.
    pub drop_every: Option<u64>,
    /// Deliver the publishes numbered `k-1, 2k-1, …` twice.
    pub dup_every: Option<u64>,
    /// Status for subscribe requests.
    pub sub_status: u16,
    /// Content type for subscribe responses.
    pub sub_content_type: &'static str,
    /// Chunked subscribe bodies (else close-delimited).
    pub chunked: bool,
    /// Split every event across two chunks (and start with a comment).
    pub split_events: bool,
    /// Required `Authorization` header value on publishes, if any.
    pub publish_auth: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            drop_every: None,
            dup_every: None,
            sub_status: 200,
            sub_content_type: "text/event-stream",
            chunked: true,
            split_events: false,
            publish_auth: None,
        }
    }
}

type Subscribers = HashMap<String, Vec<mpsc::Sender<Vec<u8>>>>;

struct State {
    opts: Options,
    topics: Mutex<Subscribers>,
    published: AtomicU64,
}

/// Starts the server on `addr` (port 0 for any) and returns its address.
pub async fn start(addr: &str, opts: Options) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.expect("bind");
    let local = listener.local_addr().expect("local addr");
    let state = Arc::new(State {
        opts,
        topics: Mutex::new(HashMap::new()),
        published: AtomicU64::new(0),
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors, say: do not spin.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let _ = connection(state, stream).await;
            });
        }
    });
    local
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

async fn connection(state: Arc<State>, mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        // Read one request head.
        let (method, path, query, auth, content_length, head_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                let target = req.path.unwrap_or("/").to_string();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).into_owned())
                };
                let len = header("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0usize);
                break (
                    req.method.unwrap_or("").to_string(),
                    path.to_string(),
                    query.to_string(),
                    header("authorization"),
                    len,
                    n,
                );
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        while buf.len() < head_len + content_length {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let body = String::from_utf8_lossy(&buf[head_len..head_len + content_length]).into_owned();
        buf.drain(..head_len + content_length);

        if method == "GET" {
            let topic = param(&query, "topic")
                .or_else(|| param(&query, "id"))
                .unwrap_or_default();
            return subscribe(state, stream, topic).await;
        }
        let (topic, data) = if path == "/.well-known/mercure" {
            if state.opts.publish_auth.is_some() && auth != state.opts.publish_auth {
                stream
                    .write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
                    .await?;
                continue;
            }
            (
                param(&body, "topic").unwrap_or_default(),
                param(&body, "data").unwrap_or_default(),
            )
        } else {
            let topic = param(&query, "topic")
                .or_else(|| param(&query, "id"))
                .unwrap_or_default();
            (topic, body)
        };
        publish(&state, &topic, &data).await;
        stream
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
            )
            .await?;
    }
}

async fn publish(state: &State, topic: &str, data: &str) {
    let n = state.published.fetch_add(1, Ordering::Relaxed);
    let hits = |k: Option<u64>| k.is_some_and(|k| n % k == k - 1);
    if hits(state.opts.drop_every) {
        return;
    }
    let copies = if hits(state.opts.dup_every) { 2 } else { 1 };
    let event = format!("id: {n}\ndata: {data}\n\n").into_bytes();
    let subs: Vec<_> = {
        let mut topics = state.topics.lock().unwrap();
        let subs = topics.entry(topic.to_string()).or_default();
        subs.retain(|s| !s.is_closed());
        subs.clone()
    };
    for s in subs {
        for _ in 0..copies {
            let _ = s.send(event.clone()).await;
        }
    }
}

fn frame(opts: &Options, event: &[u8], out: &mut Vec<u8>) {
    if !opts.chunked {
        out.extend_from_slice(event);
        return;
    }
    let parts: Vec<&[u8]> = if opts.split_events && event.len() > 1 {
        let (a, b) = event.split_at(event.len() / 2);
        vec![a, b]
    } else {
        vec![event]
    };
    for p in parts {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
}

async fn subscribe(state: Arc<State>, mut stream: TcpStream, topic: String) -> std::io::Result<()> {
    let opts = &state.opts;
    if opts.sub_status != 200 {
        let head = format!(
            "HTTP/1.1 {} Nope\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope",
            opts.sub_status
        );
        return stream.write_all(head.as_bytes()).await;
    }
    let framing = if opts.chunked {
        "Transfer-Encoding: chunked\r\n"
    } else {
        "Connection: close\r\n"
    };
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4096);
    state
        .topics
        .lock()
        .unwrap()
        .entry(topic)
        .or_default()
        .push(tx);
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nCache-Control: no-cache\r\n{framing}\r\n",
        opts.sub_content_type
    )
    .into_bytes();
    if opts.split_events {
        frame(opts, b": welcome\n\n", &mut out);
    }
    stream.write_all(&out).await?;
    let (mut read, mut write) = stream.into_split();
    let mut scratch = [0u8; 64];
    loop {
        tokio::select! {
            // Write everything queued in one go, as a good server does.
            event = rx.recv() => {
                let Some(event) = event else { return Ok(()) };
                out.clear();
                frame(opts, &event, &mut out);
                while let Ok(more) = rx.try_recv() {
                    frame(opts, &more, &mut out);
                }
                write.write_all(&out).await?;
            }
            // The subscriber went away: drop its queue (which unsubscribes).
            n = read.read(&mut scratch) => if n.unwrap_or(0) == 0 {
                return Ok(());
            },
        }
    }
}
