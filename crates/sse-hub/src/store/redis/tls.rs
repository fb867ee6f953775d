//! TLS to Redis: `rediss://` (and `rediss+sentinel://`) through rustls with
//! ring, the workspace's TLS stack.
//!
//! Without options the server is checked against the system's roots (the
//! `ca-certificates` bundle, through `rustls-native-certs`), which is what
//! managed Redis services with a public certificate need. A private CA
//! (self-hosted Redis, most company Redis) is given as a PEM file, and a
//! client certificate for servers that ask for one (`tls-auth-clients
//! yes`) as a PEM certificate chain and key:
//!
//! ```text
//! rediss://redis.internal:6380/0?ca=/etc/sse/redis-ca.pem&cert=/etc/sse/hub.pem&key=/etc/sse/hub.key
//! ```
//!
//! The files are read and parsed when the store opens, so a wrong path or
//! a file that is not PEM fails at start-up and names the file; they are
//! not watched (a renewed client certificate needs a restart).

use std::path::{Path, PathBuf};

use redis::{ClientTlsConfig, TlsCertificates};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::store::StoreError;

/// TLS files for a `rediss://` store (all optional).
///
/// With none set, the server certificate is checked against the system's
/// roots. The URL query parameters `ca`, `cert` and `key` set them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisTls {
    /// PEM file of the CA certificate(s) that sign the server's
    /// certificate; replaces the system roots when set.
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate chain, for servers that require
    /// client certificates. Needs [`key_file`](Self::key_file).
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (PKCS#8, PKCS#1 or
    /// SEC1). Needs [`cert_file`](Self::cert_file).
    pub key_file: Option<PathBuf>,
}

impl RedisTls {
    /// Takes a URL query parameter if it is one of `ca`, `cert`, `key`;
    /// `false` when it is not.
    pub(super) fn take_parameter(&mut self, name: &str, value: &str) -> bool {
        let slot = match name {
            "ca" => &mut self.ca_file,
            "cert" => &mut self.cert_file,
            "key" => &mut self.key_file,
            _ => return false,
        };
        *slot = Some(PathBuf::from(value));
        true
    }

    /// Whether any file is set (then the URL must be a TLS one).
    pub(super) fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Reads and checks the files: `None` when none is set (system roots,
    /// no client certificate).
    ///
    /// # Errors
    ///
    /// [`StoreError::is_backend`], naming the file, when one cannot be
    /// read or holds no usable PEM, or when only one of `cert` and `key`
    /// is set.
    pub(super) fn load(&self) -> Result<Option<TlsCertificates>, StoreError> {
        if !self.is_set() {
            return Ok(None);
        }
        let root_cert = match &self.ca_file {
            Some(path) => {
                let pem = read(path, "ca")?;
                let count = CertificateDer::pem_slice_iter(&pem)
                    .try_fold(0usize, |n, cert| cert.map(|_| n + 1))
                    .map_err(|e| invalid("ca", path, e))?;
                if count == 0 {
                    return Err(invalid("ca", path, "no CERTIFICATE block"));
                }
                Some(pem)
            }
            None => None,
        };
        let client_tls = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let client_cert = read(cert, "cert")?;
                let chain = CertificateDer::pem_slice_iter(&client_cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| invalid("cert", cert, e))?;
                if chain.is_empty() {
                    return Err(invalid("cert", cert, "no CERTIFICATE block"));
                }
                let client_key = read(key, "key")?;
                PrivateKeyDer::from_pem_slice(&client_key).map_err(|e| invalid("key", key, e))?;
                Some(ClientTlsConfig {
                    client_cert,
                    client_key,
                })
            }
            (None, None) => None,
            _ => {
                return Err(StoreError::backend(
                    "reading the Redis TLS files",
                    "a client certificate needs both cert=FILE and key=FILE",
                ))
            }
        };
        Ok(Some(TlsCertificates {
            client_tls,
            root_cert,
        }))
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|e| {
        StoreError::backend(
            "reading the Redis TLS files",
            format!("{what}={}: {e}", path.display()),
        )
    })
}

fn invalid(what: &str, path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::backend(
        "reading the Redis TLS files",
        format!("{what}={}: not a usable PEM file: {e}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_its_parameters_are_taken() {
        let mut tls = RedisTls::default();
        assert!(!tls.is_set());
        assert!(tls.take_parameter("ca", "/a"));
        assert!(tls.take_parameter("cert", "/b"));
        assert!(tls.take_parameter("key", "/c"));
        assert!(!tls.take_parameter("prefix", "x"));
        assert_eq!(tls.ca_file.as_deref(), Some(Path::new("/a")));
        assert!(tls.is_set());
    }

    #[test]
    fn unusable_files_are_named() {
        let dir = std::env::temp_dir().join(format!("sse-redis-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not pem at all\n").expect("write");
        let missing = dir.join("missing.pem");
        for (tls, needle) in [
            (
                RedisTls {
                    ca_file: Some(missing.clone()),
                    ..RedisTls::default()
                },
                "missing.pem",
            ),
            (
                RedisTls {
                    ca_file: Some(garbage.clone()),
                    ..RedisTls::default()
                },
                "garbage.pem",
            ),
            (
                RedisTls {
                    cert_file: Some(garbage.clone()),
                    ..RedisTls::default()
                },
                "both cert=FILE and key=FILE",
            ),
        ] {
            let Err(err) = tls.load() else {
                panic!("{needle}: loaded");
            };
            assert!(err.is_backend());
            let text = format!("{}", std::error::Error::source(&err).expect("source"));
            assert!(text.contains(needle), "{text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
