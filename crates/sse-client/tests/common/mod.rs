//! A scripted HTTP/1.1 server on loopback: each connection's request is
//! reported to the test, and a handler decides the exact bytes to answer.
//! Raw TCP on purpose: the tests need control over every byte (odd content
//! types, no length, a silent socket) that a server framework would fix up.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sse_client::{Event, EventSource};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Every wait in the tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct Req {
    /// 0 for the first connection, 1 for the next, ...
    pub conn: usize,
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub enum Reply {
    /// Write these bytes, then close the connection.
    Close(Vec<u8>),
    /// Write these bytes, then keep the connection open until the client
    /// closes it (reported as `Seen::ClientClosed`).
    Hold(Vec<u8>),
    /// Write these chunks one after another, `gap` apart, then hold.
    Drip(Vec<Vec<u8>>, Duration),
}

#[derive(Debug)]
pub enum Seen {
    Request(Req),
    ClientClosed(usize),
}

pub struct Server {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub seen: mpsc::UnboundedReceiver<Seen>,
}

impl Server {
    /// The next request, waiting at most [`WAIT`].
    pub async fn request(&mut self) -> Req {
        loop {
            match tokio::time::timeout(WAIT, self.seen.recv()).await {
                Ok(Some(Seen::Request(r))) => return r,
                Ok(Some(Seen::ClientClosed(_))) => continue,
                Ok(None) => panic!("server gone"),
                Err(_) => panic!("no request within {WAIT:?}"),
            }
        }
    }

    /// Waits until the client closes connection `conn`.
    pub async fn client_closed(&mut self, conn: usize) {
        loop {
            match tokio::time::timeout(WAIT, self.seen.recv()).await {
                Ok(Some(Seen::ClientClosed(c))) if c == conn => return,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("server gone"),
                Err(_) => panic!("connection {conn} not closed within {WAIT:?}"),
            }
        }
    }

    /// Requests seen so far without waiting.
    pub fn requests_now(&mut self) -> Vec<Req> {
        let mut out = Vec::new();
        while let Ok(s) = self.seen.try_recv() {
            if let Seen::Request(r) = s {
                out.push(r);
            }
        }
        out
    }
}

pub type Handler = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

/// Starts a plain-HTTP server.
pub async fn serve(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Server {
    serve_with(handler, |s| async move { Some(s) }, "http").await
}

/// Starts a server whose connections go through `wrap` first (TLS).
pub async fn serve_with<W, F, S>(
    handler: impl Fn(&Req) -> Reply + Send + Sync + 'static,
    wrap: W,
    scheme: &str,
) -> Server
where
    W: Fn(tokio::net::TcpStream) -> F + Send + Sync + 'static,
    F: Future<Output = Option<S>> + Send,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, seen) = mpsc::unbounded_channel();
    let handler: Handler = Arc::new(handler);
    let wrap = Arc::new(wrap);
    tokio::spawn(async move {
        let mut conn = 0;
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (tx, handler, wrap) = (tx.clone(), handler.clone(), wrap.clone());
            let id = conn;
            conn += 1;
            tokio::spawn(async move {
                let Some(stream) = wrap(tcp).await else {
                    return;
                };
                connection(id, stream, tx, handler).await;
            });
        }
    });
    Server {
        url: format!("{scheme}://{addr}"),
        addr,
        seen,
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    conn: usize,
    mut s: S,
    tx: mpsc::UnboundedSender<Seen>,
    handler: Handler,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut req = Req {
        conn,
        method,
        target,
        headers,
        body: buf[head_end..].to_vec(),
    };
    let len: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while req.body.len() < len {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.body.extend_from_slice(&chunk[..n]),
        }
    }
    let reply = handler(&req);
    let _ = tx.send(Seen::Request(req));
    let hold = match reply {
        Reply::Close(bytes) => {
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
            false
        }
        Reply::Hold(bytes) => s.write_all(&bytes).await.is_ok(),
        Reply::Drip(chunks, gap) => {
            let mut ok = true;
            for c in chunks {
                if s.write_all(&c).await.is_err() || s.flush().await.is_err() {
                    ok = false;
                    break;
                }
                tokio::time::sleep(gap).await;
            }
            ok
        }
    };
    if hold {
        let _ = s.flush().await;
        // Read until the client goes away; that is the signal the test
        // waits on. Bounded so a leaked connection cannot outlive the test.
        let _ = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }
    let _ = tx.send(Seen::ClientClosed(conn));
}

/// A 200 event-stream response head (no length: the body runs to close).
pub fn sse(body: &str) -> Vec<u8> {
    head("200 OK", "text/event-stream", body)
}

pub fn head(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    let ct = if content_type.is_empty() {
        String::new()
    } else {
        format!("content-type: {content_type}\r\n")
    };
    format!("HTTP/1.1 {status}\r\n{ct}cache-control: no-cache\r\n\r\n{body}").into_bytes()
}

/// The next event, waiting at most [`WAIT`].
pub async fn next(es: &mut EventSource) -> Event {
    match tokio::time::timeout(WAIT, es.next()).await {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("stream ended"),
        Err(_) => panic!("no event within {WAIT:?}"),
    }
}

/// The stream's end, waiting at most [`WAIT`].
pub async fn end(es: &mut EventSource) {
    match tokio::time::timeout(WAIT, es.next()).await {
        Ok(None) => {}
        Ok(Some(ev)) => panic!("expected the end, got {ev:?}"),
        Err(_) => panic!("stream did not end within {WAIT:?}"),
    }
}

/// Data of the next event, which must be a message.
pub async fn message(es: &mut EventSource) -> sse_client::Message {
    match next(es).await {
        Event::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

pub async fn open(es: &mut EventSource) {
    match next(es).await {
        Event::Open => {}
        other => panic!("expected open, got {other:?}"),
    }
}

/// The next event, which must be an error; returns it and `will_reconnect`.
pub async fn error(es: &mut EventSource) -> (sse_client::Error, bool) {
    match next(es).await {
        Event::Error {
            error,
            will_reconnect,
        } => (error, will_reconnect),
        other => panic!("expected an error, got {other:?}"),
    }
}

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use sse_testkit::skip::have;
#[allow(unused_imports)]
pub use sse_testkit::tls::{provider, PrivateCa};

/// A TLS server on loopback with this configuration (see [`serve_with`]).
pub async fn tls_server(
    server: Arc<sse_client::rustls::ServerConfig>,
    handler: impl Fn(&Req) -> Reply + Send + Sync + 'static,
) -> Server {
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    serve_with(
        handler,
        move |tcp| {
            let acceptor = acceptor.clone();
            async move { acceptor.accept(tcp).await.ok() }
        },
        "https",
    )
    .await
}

/// A private certificate authority and a server certificate it issued
/// for `localhost` and `127.0.0.1`, as an internal hub would have.
pub fn private_ca() -> PrivateCa {
    PrivateCa::new()
}

/// A tinyproxy child process, killed on drop.
pub struct Tinyproxy {
    child: std::process::Child,
    pub port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts tinyproxy (with `BasicAuth user password` when given); `None`
/// (skip) when it is not installed and the run is not strict.
pub fn tinyproxy(auth: Option<(&str, &str)>) -> Option<Tinyproxy> {
    if !have("tinyproxy", "-v") {
        return None;
    }
    let port = sse_testkit::ports::free_port();
    let dir = std::env::temp_dir().join(format!(
        "sse-client-tinyproxy-{}-{port}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut conf =
        format!("Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nLogLevel Info\n");
    if let Some((user, password)) = auth {
        conf.push_str(&format!("BasicAuth {user} {password}\n"));
    }
    let path = dir.join("tinyproxy.conf");
    std::fs::write(&path, conf).unwrap();
    let mut child = std::process::Command::new("tinyproxy")
        .arg("-d")
        .arg("-c")
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Ready once it logs that it accepts connections (it logs to stdout
    // in the foreground); the reader thread ends with the process.
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
            let Ok(line) = line else { return };
            if line.contains("Accepting connections") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(WAIT)
        .expect("tinyproxy did not start accepting connections");
    Some(Tinyproxy { child, port, dir })
}
