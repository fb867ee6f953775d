//! Behind `tower-http`'s `CompressionLayer`: with its default predicate,
//! event streams are left uncompressed, so events reach the client one by
//! one, while other responses are still compressed. With compression
//! forced on (`compress_when(SizeAbove::new(0))`), tower-http 0.6 flushes
//! the encoder whenever the stream has nothing more ready, so each event
//! still arrives at once (and the light path leaves such responses to
//! hyper, because they carry `Content-Encoding`).

mod common;

use common::{get, target_router, within, Kind, Server};
use std::io::Write;

use tower_http::compression::predicate::SizeAbove;
use tower_http::compression::CompressionLayer;

both!(
    events_pass_a_default_compression_layer_one_by_one,
    forced_gzip_still_flushes_each_event,
);

async fn events_pass_a_default_compression_layer_one_by_one(kind: Kind) {
    let (router, mut targets) = target_router(|b| b);
    let big = "compressible ".repeat(1000);
    let router = router
        .route("/big", axum::routing::get(move || async move { big }))
        .layer(CompressionLayer::new());
    let server = Server::start(kind, router).await;

    // The layer is active: an ordinary response is gzipped.
    let page = get(server.addr, "/big", &[("accept-encoding", "gzip")]).await;
    assert_eq!(page.header("content-encoding"), Some("gzip"));

    let mut s = get(server.addr, "/events", &[("accept-encoding", "gzip")]).await;
    let target = within("target", targets.recv()).await.unwrap();
    assert_eq!(s.header("content-encoding"), None);
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
    for i in 0..5 {
        // The next event is sent only after the previous one arrived: a
        // compression buffer holding events would make this wait forever.
        target.dispatch_message(&i.to_string()).unwrap();
        s.read_until(format!("data: {i}\n\n").as_bytes()).await;
    }
    within("close", target.close()).await;
    assert_eq!(
        s.read_to_end().await,
        b"data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n"
    );
}

async fn forced_gzip_still_flushes_each_event(kind: Kind) {
    let (router, mut targets) = target_router(|b| b);
    let router = router.layer(CompressionLayer::new().compress_when(SizeAbove::new(0)));
    let server = Server::start(kind, router).await;
    let mut s = get(server.addr, "/events", &[("accept-encoding", "gzip")]).await;
    let target = within("target", targets.recv()).await.unwrap();
    assert_eq!(s.header("content-encoding"), Some("gzip"));
    let mut gunzip = flate2::write::GzDecoder::new(Vec::new());
    let mut fed = 0;
    for i in 0..5 {
        target.dispatch_message(&i.to_string()).unwrap();
        let want = format!("data: {i}\n\n");
        // Decode what arrived so far; wait for more until the event shows.
        loop {
            gunzip.write_all(&s.received[fed..]).unwrap();
            gunzip.flush().unwrap();
            fed = s.received.len();
            if common::contains(gunzip.get_ref(), want.as_bytes()) {
                break;
            }
            assert!(s.read_more().await, "stream ended");
        }
    }
    within("close", target.close()).await;
    s.read_to_end().await;
    gunzip.write_all(&s.received[fed..]).unwrap();
    let all = gunzip.finish().unwrap();
    assert_eq!(
        all,
        b"data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n"
    );
}
