//! The body in a bare hyper server, without axum.

mod common;

use std::convert::Infallible;

use common::{get, within};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sse_server::EventStreamRequest;

#[tokio::test]
async fn plain_hyper_server_streams_events() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let closed_tx = std::sync::Mutex::new(Some(closed_tx));
        let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let sse = EventStreamRequest::from_request(&req);
            assert!(sse.accepts_event_stream());
            let id = sse.last_event_id().unwrap_or("none").to_owned();
            let (target, response) = sse.send_events();
            let tx = closed_tx.lock().unwrap().take();
            tokio::spawn(async move {
                target
                    .dispatch_message(&format!("resumed after {id}"))
                    .unwrap();
                target.close().await;
                if let Some(tx) = tx {
                    let _ = tx.send(target.is_closed());
                }
            });
            async move { Ok::<_, Infallible>(response) }
        });
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(sock), service)
            .await;
    });
    let mut s = get(addr, "/", &[("last-event-id", "41")]).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
    assert_eq!(s.header("connection"), Some("keep-alive"));
    assert_eq!(s.read_to_end().await, b"data: resumed after 41\n\n");
    assert!(within("close() returns", closed_rx).await.unwrap());
}
