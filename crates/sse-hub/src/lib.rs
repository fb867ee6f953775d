//! A Mercure hub as a library: publish/subscribe over Server-Sent Events,
//! with topics and URL-pattern matchers, JWT authorization, history in
//! memory, SQLite or Redis, and a fan-out that costs about a kilobyte per
//! open stream.
//!
//! Embed it in an axum application: mount its routes beside your own,
//! and publish from your handlers without a token or an HTTP round trip.
//!
//! ```
//! use axum::routing::get;
//! use axum::Router;
//! use sse_hub::{Hub, HubConfig, Update};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = HubConfig::new("http://127.0.0.1:3000/.well-known/mercure");
//! config.allow_anonymous = true; // public updates need no subscriber token
//! let store = config.memory_store(); // or sse_hub::store::open("sqlite://…", retention)
//! let hub = Hub::new(config, store)?;
//!
//! // Your app keeps its own /healthz and fallback; the hub's health check
//! // goes where you say.
//! let app: Router = Router::new()
//!     .route("/healthz", get(|| async { "app ok" }))
//!     .merge(hub.routes().with_healthz("/hub/healthz").into_router())
//!     .fallback(|| async { "not found" });
//!
//! // Something happened in your code: tell the subscribers.
//! let id = hub
//!     .publish_update(Update::new(["https://example.com/orders/42"], "shipped"))
//!     .await?;
//! assert!(id.starts_with("urn:uuid:"));
//!
//! // Serve `app` with `sse_server::serve` (streams taken off hyper) or
//! // `axum::serve`; on shutdown:
//! hub.shutdown().await;
//! # drop(app);
//! # Ok(())
//! # }
//! ```
//!
//! `examples/embed.rs` is the whole application, served and tested.
//!
//! # Map of the crate
//!
//! | module | holds |
//! |---|---|
//! | [`hub`] | [`Hub`], the protocol core, and [`HubConfig`] |
//! | `http` (private) | the axum routes ([`HubRoutes`]), which only translate HTTP |
//! | `fanout` (private) | the fan-out engine: admission, subscribers and the replay hand-off, the registry, delivery |
//! | [`publish`], [`subscribe`] | parsing and validating publish forms and subscribe requests |
//! | [`auth`] | tokens, keys (including JWK Sets) and grants |
//! | [`topic`] | topics and matchers (exact, URL pattern, URI template) |
//! | [`store`] | history and ordering: memory, SQLite, Redis (feature `redis`) |
//! | [`debug_page`] | the debug page's HTML |
//!
//! Every refusal is a [`Rejection`], which carries its HTTP status.
#![deny(missing_docs)]

pub mod auth;
pub mod config;
pub mod debug_page;
mod fanout;
mod http;
pub mod hub;
pub mod publish;
mod rejection;
pub mod store;
pub mod subscribe;
pub mod topic;
mod update;

pub use hub::{Caller, Hub, HubConfig, HubRoutes, Subscription};
pub use rejection::Rejection;
pub use update::{generate_id, Update};
