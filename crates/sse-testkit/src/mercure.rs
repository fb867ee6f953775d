//! The Mercure protocol cases, written once and run against any hub that
//! implements [`MercureHarness`]: the hub in process
//! ([`InProcessHub`], `sse-hub`'s `hub_protocol` test) and the `sse serve`
//! binary a user runs ([`BinaryHub`], `sse-cli`'s `mercure_binary` test).
//!
//! [`mercure_cases!`](crate::mercure_cases) turns every case of [`cases`]
//! into a `#[tokio::test]` of the case's name for one harness:
//!
//! ```ignore
//! // crates/<crate>/tests/<name>.rs (needs tokio with `macros` and `rt`)
//! sse_testkit::mercure_cases!(sse_testkit::mercure::InProcessHub);
//! ```
//!
//! The requests go over a raw HTTP/1.1 client ([`client`]), so the cases
//! see exactly the bytes on the wire.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use sse_hub::auth::{JwtAlgorithm, VerificationKey};
use sse_hub::hub::HubConfig;

pub mod cases;
pub mod client;

mod binary_hub;
mod in_process;

pub use binary_hub::{flags as serve_flags, BinaryHub};
pub use in_process::InProcessHub;

use client::{claims, exact, request, sign, Resp, Sse};

/// The bound of every wait in the cases.
pub const WAIT: Duration = Duration::from_secs(15);
/// The HMAC secret of publisher tokens every harness trusts.
pub const PUB_SECRET: &[u8] = b"publisher-secret-publisher-secret!";
/// The HMAC secret of subscriber tokens every harness trusts.
pub const SUB_SECRET: &[u8] = b"subscriber-secret-subscriber-secret";
/// The `authorization_details` type of H tokens.
pub const TYPE_H: &str = "https://mercure.rocks/authorization-detail";
/// The hub's path.
pub const HUB_PATH: &str = "/.well-known/mercure";

/// The configuration every harness starts from, which a case adjusts:
/// the hub URL (also the token audience) `url`, HS256 keys
/// [`PUB_SECRET`] and [`SUB_SECRET`], anonymous subscribers allowed (most
/// cases subscribe anonymously; the policy cases turn it off).
///
/// # Panics
///
/// Never for these keys (an HMAC key of 32 bytes or more).
pub fn baseline(url: &str) -> HubConfig {
    let mut config = HubConfig::new(url);
    config.auth.publisher_keys =
        vec![VerificationKey::hmac(JwtAlgorithm::HS256, PUB_SECRET).expect("an HS256 key")];
    config.auth.subscriber_keys =
        vec![VerificationKey::hmac(JwtAlgorithm::HS256, SUB_SECRET).expect("an HS256 key")];
    config.allow_anonymous = true;
    config
}

/// A hub under test, and the requests the cases send it. An implementor
/// provides how to start and stop a hub and where it is; the requests are
/// provided (over [`client`]).
#[allow(async_fn_in_trait)] // The cases await these on one task; no `Send` bound is needed.
pub trait MercureHarness: Sized {
    /// Starts a hub on a fresh memory store with the configuration
    /// `configure` leaves (starting from [`baseline`] for this hub's URL)
    /// and waits until it serves.
    async fn memory(configure: impl FnOnce(&mut HubConfig)) -> Self;

    /// Stops the hub (and waits until it has).
    async fn stop(self);

    /// The hub's socket address.
    fn addr(&self) -> SocketAddr;

    /// The hub URL, also the token audience.
    fn url(&self) -> &str;

    /// One request on a fresh connection, read to the end.
    async fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        request(self.addr(), method, target, headers, body).await
    }

    /// A `GET`.
    async fn get(&self, target: &str, headers: &[(&str, &str)]) -> Resp {
        self.request("GET", target, headers, b"").await
    }

    /// A token for this hub's audience, signed with `secret`, granting
    /// `actions` on `topics`, expiring in `exp_in` seconds.
    fn token(&self, secret: &[u8], actions: &[&str], topics: Vec<Value>, exp_in: i64) -> String {
        sign(secret, &claims(self.url(), actions, topics, exp_in))
    }

    /// A publisher token for every topic.
    fn pub_token(&self) -> String {
        self.token(PUB_SECRET, &["publish"], vec![exact("*")], 3600)
    }

    /// A subscriber token for `topics`.
    fn sub_token(&self, topics: Vec<Value>) -> String {
        self.token(SUB_SECRET, &["subscribe"], topics, 3600)
    }

    /// Publishes a form body with a publisher token for every topic.
    async fn publish(&self, form: &str) -> Resp {
        let token = self.pub_token();
        self.publish_with(form, &token).await
    }

    /// Publishes a form body with `token`.
    async fn publish_with(&self, form: &str, token: &str) -> Resp {
        let auth = format!("Bearer {token}");
        self.request(
            "POST",
            HUB_PATH,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &auth),
            ],
            form.as_bytes(),
        )
        .await
    }

    /// Publishes and returns the id.
    ///
    /// # Panics
    ///
    /// Unless the hub answers 200.
    async fn publish_ok(&self, form: &str) -> String {
        let r = self.publish(form).await;
        assert_eq!(r.status, 200, "publish {form:?}: {}", r.text());
        r.text()
    }

    /// Opens a stream (`query` after `?`).
    ///
    /// # Panics
    ///
    /// Unless it is a 200 event stream.
    async fn subscribe(&self, query: &str, headers: &[(&str, &str)]) -> Sse {
        match self.try_subscribe(query, headers).await {
            Ok(s) => s,
            Err(r) => panic!("subscribe {query:?} failed: {} {}", r.status, r.text()),
        }
    }

    /// Opens a stream, or returns the answer that is not one.
    async fn try_subscribe(&self, query: &str, headers: &[(&str, &str)]) -> Result<Sse, Resp> {
        Sse::open(self.addr(), &format!("{HUB_PATH}?{query}"), headers, None).await
    }
}
