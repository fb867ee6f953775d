//! Which JWK Sets each role trusts, and loading them once the runtime runs.

use std::path::PathBuf;

use anyhow::Context;
use sse_hub::auth::{AuthConfig, JwksFile, JwksKeys, JwksRefresh};

use super::options::Options;

/// Where a JWK Set comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum JwksSpec {
    Url(String),
    File(PathBuf),
}

/// The JWK Sets of each role and how they are refreshed.
#[derive(Debug, Default)]
pub(super) struct JwksPlan {
    pub publisher: Vec<JwksSpec>,
    pub subscriber: Vec<JwksSpec>,
    pub refresh: JwksRefresh,
    pub cacert: Option<PathBuf>,
}

impl JwksPlan {
    /// A role's own URL or file replaces the shared one.
    pub fn new(o: &Options) -> Self {
        let role = |url: &Option<String>, path: &Option<PathBuf>| -> Vec<JwksSpec> {
            let url = url.as_ref().or(o.jwt_jwks_url.as_ref());
            let path = path.as_ref().or(o.jwt_jwks_file.as_ref());
            let url = url.cloned().map(JwksSpec::Url);
            url.into_iter()
                .chain(path.cloned().map(JwksSpec::File))
                .collect()
        };
        JwksPlan {
            publisher: role(&o.publisher_jwks_url, &o.publisher_jwks_file),
            subscriber: role(&o.subscriber_jwks_url, &o.subscriber_jwks_file),
            refresh: o.jwks_refresh,
            cacert: o.jwt_jwks_cacert.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.publisher.is_empty() && self.subscriber.is_empty()
    }

    /// Loads every distinct set once (a URL both roles use is fetched and
    /// refreshed once) and hands the keys to the roles.
    pub async fn load(&self, auth: &mut AuthConfig) -> anyhow::Result<()> {
        let mut loaded: Vec<(JwksSpec, JwksKeys)> = Vec::new();
        for (specs, role) in [(&self.publisher, true), (&self.subscriber, false)] {
            for spec in specs {
                let keys = match loaded.iter().find(|(s, _)| s == spec) {
                    Some((_, keys)) => keys.clone(),
                    None => {
                        let keys = match spec {
                            JwksSpec::Url(url) => JwksKeys::load(
                                crate::jwks::HttpJwks::new(url, self.cacert.as_ref())?,
                                self.refresh,
                            )
                            .await
                            .context("cannot load the JWK Set")?,
                            JwksSpec::File(path) => {
                                JwksKeys::load(JwksFile::new(path), self.refresh)
                                    .await
                                    .context("cannot load the JWK Set")?
                            }
                        };
                        tracing::info!(source = ?spec, keys = keys.keys().len(), "JWK Set loaded");
                        loaded.push((spec.clone(), keys.clone()));
                        keys
                    }
                };
                if role {
                    auth.publisher_jwks.push(keys);
                } else {
                    auth.subscriber_jwks.push(keys);
                }
            }
        }
        Ok(())
    }
}
