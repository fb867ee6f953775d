//! The test kit of the `sse` workspace (not published): what the
//! integration tests of every crate share, in one place instead of copies
//! in each `tests/` folder.
//!
//! - [`ports`]: free loopback ports for servers a test starts itself.
//! - [`skip`]: the rule for tests that need an outside program: skip with
//!   a message under a bare `cargo test`, fail when `SSE_TEST_STRICT=1`
//!   (as `scripts/test.sh` and CI set it).
//! - [`redis`]: a private `redis-server` on a free port, stopped with the
//!   test.
//! - [`tls`]: test certificates (self-signed, or a private CA) and a
//!   rustls client that trusts them.
//! - [`binary`]: the `sse` binary as a child process: found next to the
//!   test, started with arguments and environment, waited on until it
//!   listens, its stderr read, stopped or killed.
//! - `store_conformance` (feature `hub`): the store conformance suite, run
//!   against any [`Store`](sse_hub::store::Store) backend by one macro line.
//! - `mercure` (feature `hub`): the Mercure protocol cases, written once
//!   against the [`MercureHarness`](mercure::MercureHarness) trait, with
//!   harnesses for the hub in process and for the `sse serve` binary.
//!
//! Every wait in the kit is bounded; nothing sleeps to let time pass.
//!
//! # Example
//!
//! A test that needs `redis-server` asks the kit for one, and returns early
//! (after a message) when it is missing, unless `SSE_TEST_STRICT=1`:
//!
//! ```
//! use sse_testkit::{ports, redis::Redis};
//!
//! let port = ports::free_port();
//! assert_ne!(port, 0);
//!
//! let Some(redis) = Redis::start() else {
//!     return; // skipped, with a message
//! };
//! assert_eq!(redis.run(&["PING"]), "+PONG");
//! assert!(redis.url().starts_with("redis://127.0.0.1:"));
//! ```
//!
//! A crate's test of the Mercure protocol, for a harness of its own, is one
//! line (see [`mercure_cases!`]); a store backend in another crate runs the
//! whole conformance suite with one line of [`store_conformance!`].

#![deny(missing_docs)]

pub mod binary;
pub mod ports;
pub mod redis;
pub mod skip;
pub mod tls;

#[cfg(feature = "hub")]
pub mod mercure;
#[cfg(feature = "hub")]
pub mod store_conformance;

/// Re-exported for the macros, which expand in the caller's crate.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "hub")]
    pub use proptest;
    pub use tokio;
}
