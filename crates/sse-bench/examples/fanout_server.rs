//! A small SSE fan-out server for trying `sse-bench` by hand:
//!
//! ```text
//! cargo run --example fanout_server -- 127.0.0.1:8090
//! sse-bench --subscribe-url 'http://127.0.0.1:8090/sub?topic={topic}' \
//!           --publish-url 'http://127.0.0.1:8090/pub?topic={topic}' -n 2000 --rate 50
//! ```
//!
//! It is the server of this crate's integration tests; see
//! `tests/common/server.rs` for its routes.

#[path = "../tests/common/server.rs"]
mod server;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let local = server::start(&addr, server::Options::default()).await;
    eprintln!("fanout_server on {local}, pid {}", std::process::id());
    std::future::pending::<()>().await;
}
