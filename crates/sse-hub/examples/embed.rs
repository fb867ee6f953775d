//! The hub inside an application: an axum app with its own routes, its own
//! `/healthz` and its own fallback, the Mercure hub mounted beside them, and
//! a handler that publishes in-process when something happens (an order
//! ships), with no token and no HTTP round trip.
//!
//! ```text
//! cargo run -p sse-hub --example embed
//! # in another terminal: anonymous subscribers see public updates
//! curl -N 'http://127.0.0.1:3000/.well-known/mercure?topic=https://shop.example/orders/42'
//! # and in a third: ship the order
//! curl -X POST http://127.0.0.1:3000/orders/42/ship
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use sse_hub::{Hub, HubConfig, Update};

/// The application's own state; the hub is one more thing it holds.
#[derive(Clone)]
pub struct Shop {
    hub: Hub,
    name: Arc<str>,
}

/// The topic of one order's updates.
pub fn order_topic(id: u64) -> String {
    format!("https://shop.example/orders/{id}")
}

/// The hub's settings for this app: served at `public_url`, anonymous
/// subscribers allowed (order updates here are public; a real shop would
/// give each customer a subscriber token and publish privately).
pub fn hub_config(public_url: &str) -> HubConfig {
    let mut config = HubConfig::new(public_url);
    config.allow_anonymous = true;
    config
}

/// The whole application: its routes, then the hub's (health and metrics
/// under `/hub/`, so the app's `/healthz` stays its own), then its fallback.
pub fn app(hub: Hub) -> Router {
    let shop = Shop {
        hub: hub.clone(),
        name: Arc::from("the example shop"),
    };
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(|| async { "app ok\n" }))
        .route("/orders/{id}/ship", post(ship))
        .merge(
            hub.routes()
                .with_healthz("/hub/healthz")
                .with_metrics("/hub/metrics")
                .into_router(),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such page in this shop\n") })
        .with_state(shop)
}

async fn home(State(shop): State<Shop>) -> String {
    format!("welcome to {}\n", shop.name)
}

/// Ships an order and tells its subscribers: an in-process publish, stored
/// and ordered exactly like one that came over HTTP.
async fn ship(
    State(shop): State<Shop>,
    Path(id): Path<u64>,
) -> Result<String, (StatusCode, String)> {
    let data = serde_json::json!({ "order": id, "status": "shipped" }).to_string();
    let update = Update::new([order_topic(id)], data).with_type("order-status");
    match shop.hub.publish_update(update).await {
        Ok(event_id) => Ok(format!("order {id} shipped (event {event_id})\n")),
        Err(refused) => Err((refused.status(), refused.message().to_owned())),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let config = hub_config(&format!("{base}/.well-known/mercure"));
    let store = config.memory_store();
    let hub = Hub::new(config, store)?;
    println!("shop on {base}; hub at {base}/.well-known/mercure");
    // sse_server::serve takes event streams off hyper (under 1 KB each);
    // axum::serve works too.
    sse_server::serve(listener, app(hub.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    hub.shutdown().await;
    Ok(())
}
