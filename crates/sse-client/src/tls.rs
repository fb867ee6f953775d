//! Which TLS servers a source trusts: the built-in roots (Mozilla's and/or
//! the system's), extra roots the application adds (a private CA), or, for
//! development only, any certificate at all.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// What the builder collected about trust, turned into a configuration by
/// [`client_config`].
#[derive(Debug, Default)]
pub(crate) struct Trust {
    /// Root certificates added to (or, without built-ins, instead of) the
    /// built-in ones.
    pub(crate) extra_roots: Vec<CertificateDer<'static>>,
    /// `false` trusts only `extra_roots`.
    pub(crate) no_built_in: bool,
    /// Accept any server certificate (development only).
    pub(crate) insecure: bool,
}

impl Trust {
    /// Adds every certificate of `pem` to the extra roots.
    ///
    /// # Errors
    /// As [`certificates_from_pem`], prefixed for a builder's message.
    pub(crate) fn add_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        let certs = certificates_from_pem(pem).map_err(|e| format!("root certificates: {e}"))?;
        self.extra_roots.extend(certs);
        Ok(())
    }

    /// Whether this differs from the default (so the shared default
    /// configuration cannot be used).
    fn is_default(&self) -> bool {
        self.extra_roots.is_empty() && !self.no_built_in && !self.insecure
    }
}

/// Parses every `CERTIFICATE` block of a PEM document (other blocks, such as
/// keys, are skipped).
///
/// # Errors
/// A text description when the PEM is malformed or holds no certificate.
pub(crate) fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("the PEM holds no CERTIFICATE".to_owned());
    }
    Ok(certs)
}

fn alpn(http2: bool) -> Vec<Vec<u8>> {
    if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The built-in roots: Mozilla's (feature `webpki-roots`) and the
/// system's (feature `native-roots`).
fn built_in_roots(roots: &mut rustls::RootCertStore) {
    #[cfg(feature = "webpki-roots")]
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    #[cfg(feature = "native-roots")]
    {
        // Unreadable or unparsable system certificates are skipped, as
        // browsers do; the others still count.
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!(error = %e, "skipping a native root certificate source");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, ignored, "native root certificates loaded");
    }
    let _ = roots; // nothing to add without a roots feature
}

fn build(trust: &Trust, http2: bool) -> Result<rustls::ClientConfig, String> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        // A fixed property of the ring provider, not of any input.
        .expect("ring supports the default TLS versions");
    let mut config = if trust.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        if !trust.no_built_in {
            built_in_roots(&mut roots);
        }
        for cert in &trust.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| format!("unusable root certificate: {e}"))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = alpn(http2);
    Ok(config)
}

/// The TLS configuration of a source, with ALPN set as `http2` asks. The
/// default one is built once per process: the root store is tens of
/// kilobytes, too much per source.
///
/// # Errors
/// A text description when an extra root is not a usable CA certificate,
/// or when a given configuration is combined with root settings (which
/// build a configuration of their own).
pub(crate) fn client_config(
    given: Option<Arc<rustls::ClientConfig>>,
    trust: &Trust,
    http2: bool,
) -> Result<Arc<rustls::ClientConfig>, String> {
    if let Some(given) = given {
        if !trust.is_default() {
            return Err("tls_config cannot be combined with root certificate settings".to_owned());
        }
        let mut config = (*given).clone();
        config.alpn_protocols = alpn(http2);
        return Ok(Arc::new(config));
    }
    if !trust.is_default() {
        return build(trust, http2).map(Arc::new);
    }
    static DEFAULT: [OnceLock<Arc<rustls::ClientConfig>>; 2] = [OnceLock::new(), OnceLock::new()];
    Ok(DEFAULT[usize::from(http2)]
        .get_or_init(|| {
            Arc::new(build(&Trust::default(), http2).expect("no extra roots, nothing to reject"))
        })
        .clone())
}

/// `--insecure`: any certificate for any name is accepted. The handshake
/// signatures are still checked, so the peer holds the key of the
/// certificate it shows; only who issued it and for what name are ignored.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_with_certificates_and_a_key() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let pem = format!("{}{}", ck.cert.pem(), ck.key_pair.serialize_pem());
        let certs = certificates_from_pem(pem.as_bytes()).unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].as_ref(), ck.cert.der().as_ref());
        assert!(
            certificates_from_pem(ck.key_pair.serialize_pem().as_bytes())
                .unwrap_err()
                .contains("no CERTIFICATE")
        );
        assert!(certificates_from_pem(
            b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
        )
        .unwrap_err()
        .contains("invalid PEM"));
    }
}
