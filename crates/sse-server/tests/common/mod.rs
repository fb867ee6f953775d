//! Shared test harness: run a router behind `axum::serve` or our `serve`,
//! talk to it with hyper's client over loopback, wait with timeouts.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sse_server::Shutdown;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every wait in the tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// Waits for `f`, failing the test after [`WAIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Which connection machinery serves the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Axum,
    Light,
}

pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Starts `router` on 127.0.0.1:0. With `Kind::Axum`, a [`Shutdown`]
    /// is added as an extension and triggered with the graceful-shutdown
    /// signal, as the crate docs tell axum users to do.
    pub async fn start(kind: Kind, router: Router) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = match kind {
            Kind::Axum => {
                let shutdown = Shutdown::new();
                let router = router.layer(axum::Extension(shutdown.clone()));
                tokio::spawn(async move {
                    // As axum's docs show it, so `ConnectInfo` works on both.
                    let app = router.into_make_service_with_connect_info::<SocketAddr>();
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = rx.await;
                            shutdown.trigger();
                        })
                        .await
                })
            }
            Kind::Light => tokio::spawn(async move {
                sse_server::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await
            }),
        };
        Server {
            addr,
            stop: Some(tx),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Triggers graceful shutdown; returns the server's future.
    pub fn shut_down(&mut self) -> &mut JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        &mut self.task
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An open response being read.
pub struct Stream {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub version: http::Version,
    body: Incoming,
    pub received: BytesMut,
    pub ended: bool,
    _conn: JoinHandle<()>,
}

/// GET `path` over HTTP/1.1 with `Accept: text/event-stream` and `extra`
/// headers, using hyper's client on a fresh connection.
pub async fn get(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> Stream {
    let io = TokioIo::new(within("connect", TcpStream::connect(addr)).await.unwrap());
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = http::Request::get(path)
        .header("host", addr.to_string())
        .header("accept", "text/event-stream");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let req = req.body(http_body_util::Empty::<Bytes>::new()).unwrap();
    let resp = within("response head", send.send_request(req))
        .await
        .unwrap();
    into_stream(resp, conn)
}

/// The same over HTTP/2 with prior knowledge (h2c).
pub async fn get_h2(addr: SocketAddr, path: &str) -> Stream {
    let io = TokioIo::new(within("connect", TcpStream::connect(addr)).await.unwrap());
    let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(format!("http://{addr}{path}"))
        .header("accept", "text/event-stream")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let resp = within("response head", send.send_request(req))
        .await
        .unwrap();
    into_stream(resp, conn)
}

fn into_stream(resp: http::Response<Incoming>, conn: JoinHandle<()>) -> Stream {
    let (parts, body) = resp.into_parts();
    Stream {
        status: parts.status,
        headers: parts.headers,
        version: parts.version,
        body,
        received: BytesMut::new(),
        ended: false,
        _conn: conn,
    }
}

impl Stream {
    /// Reads one more data frame; `false` at the end of the body.
    pub async fn read_more(&mut self) -> bool {
        loop {
            match within("body frame", self.body.frame()).await {
                None => {
                    self.ended = true;
                    return false;
                }
                Some(Err(e)) => panic!("body error: {e}"),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.received.extend_from_slice(&d);
                        return true;
                    }
                }
            }
        }
    }

    /// Reads until `received` holds at least `n` bytes or the body ends.
    pub async fn read_at_least(&mut self, n: usize) -> &[u8] {
        while self.received.len() < n && self.read_more().await {}
        &self.received
    }

    /// Reads until `received` contains `needle`.
    pub async fn read_until(&mut self, needle: &[u8]) -> &[u8] {
        while !contains(&self.received, needle) {
            assert!(
                self.read_more().await,
                "stream ended before {:?}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.received)
            );
        }
        &self.received
    }

    /// Reads until the body ends; returns everything received.
    pub async fn read_to_end(&mut self) -> &[u8] {
        while self.read_more().await {}
        &self.received
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // Close the connection now, as a client that leaves does.
        self._conn.abort();
    }
}

/// A router whose `/events` answers with a stream configured by
/// `configure` and hands the stream's target to the test.
pub fn target_router(
    configure: fn(sse_server::EventStreamBuilder) -> sse_server::EventStreamBuilder,
) -> (
    Router,
    tokio::sync::mpsc::UnboundedReceiver<sse_server::EventTarget>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let router = Router::new().route(
        "/events",
        axum::routing::get(move |sse: sse_server::EventStreamRequest| {
            let tx = tx.clone();
            async move {
                let (target, response) = configure(sse.into_builder()).build().unwrap();
                let _ = tx.send(target);
                response
            }
        }),
    );
    (router, rx)
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Generates one test per server kind from `async fn name(kind: Kind)`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod axum_serve {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Kind::Axum).await
                }
            )*
        }
        mod light_serve {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Kind::Light).await
                }
            )*
        }
    };
}

/// Whether tests needing outside programs must run (scripts/test.sh).
pub fn strict() -> bool {
    std::env::var("SSE_TEST_STRICT").is_ok_and(|v| v == "1")
}
