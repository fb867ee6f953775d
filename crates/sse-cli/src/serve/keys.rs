//! The hub's verification keys: from `SSE_PUBLISHER_JWT_KEY` /
//! `SSE_SUBSCRIBER_JWT_KEY` or key files (never from a flag, which ends up
//! in shell history and `ps`, nor from the TOML file's text), or, when
//! nothing is configured on loopback, the development key.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use sse_hub::auth::{JwtAlgorithm, VerificationKey};
use sse_hub::store::Dsn;
use sse_hub::HubConfig;

use super::dev_key::{dev_key, DevKey};
use super::jwks_plan::JwksPlan;
use super::options::Options;

/// A key from `var`, or from `file`; `None` when neither is set.
pub(crate) fn secret(var: &str, file: Option<PathBuf>) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(path) = file {
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read the key file {}", path.display()))?;
        // A trailing newline from `echo secret > file` is not part of the key.
        let trimmed = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        return Ok(Some(trimmed.to_vec()));
    }
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => Ok(Some(v.into_encoded_bytes())),
        _ => Ok(None),
    }
}

/// Sets the keys of both roles in `hub`; returns the development key when
/// that is what signs (no key and no JWK Set configured).
///
/// # Errors
/// A key file that cannot be read, a key that does not fit its algorithm,
/// no key at all on an address beyond loopback.
pub(super) fn configure(
    hub: &mut HubConfig,
    o: &Options,
    jwks: &JwksPlan,
    addr: SocketAddr,
    store: &Dsn,
) -> anyhow::Result<Option<DevKey>> {
    let publisher = secret("SSE_PUBLISHER_JWT_KEY", o.publisher_jwt_key_file.clone())?;
    let subscriber = secret("SSE_SUBSCRIBER_JWT_KEY", o.subscriber_jwt_key_file.clone())?;
    if publisher.is_none() && subscriber.is_none() && jwks.is_empty() {
        if !addr.ip().is_loopback() {
            bail!(
                "refusing to listen on {addr} without keys: set SSE_PUBLISHER_JWT_KEY and \
                 SSE_SUBSCRIBER_JWT_KEY (or the --…-key-file flags, or --jwt-jwks-url), or \
                 listen on 127.0.0.1"
            );
        }
        let secret = dev_key(store)?;
        let key = VerificationKey::hmac(JwtAlgorithm::HS256, secret.secret.as_bytes())
            .context("development key")?;
        hub.auth.publisher_keys = vec![key.clone()];
        hub.auth.subscriber_keys = vec![key];
        return Ok(Some(secret));
    }
    let default_alg = o.jwt_alg.unwrap_or(JwtAlgorithm::HS256);
    let publisher_alg = o.publisher_jwt_alg.unwrap_or(default_alg);
    let subscriber_alg = o.subscriber_jwt_alg.unwrap_or(default_alg);
    hub.auth.publisher_keys = key("publisher", publisher_alg, publisher)?;
    hub.auth.subscriber_keys = key("subscriber", subscriber_alg, subscriber)?;
    for (role, keys, sets) in [
        ("publisher", &hub.auth.publisher_keys, &jwks.publisher),
        ("subscriber", &hub.auth.subscriber_keys, &jwks.subscriber),
    ] {
        if keys.is_empty() && sets.is_empty() {
            tracing::warn!("no {role} key is configured: every {role} token will be refused");
        }
    }
    Ok(None)
}

/// A role's key: a secret for HS*, a PEM public key otherwise.
fn key(
    role: &str,
    alg: JwtAlgorithm,
    material: Option<Vec<u8>>,
) -> anyhow::Result<Vec<VerificationKey>> {
    let Some(m) = material else {
        return Ok(Vec::new());
    };
    let key = if alg.as_str().starts_with("HS") {
        VerificationKey::hmac(alg, &m)
    } else {
        VerificationKey::public_pem(alg, &m)
    };
    Ok(vec![key.with_context(|| {
        format!("invalid {role} key for {alg}")
    })?])
}
