//! The rustls client configuration of the crate's outgoing connections (a JWKS fetch, the
//! client's `https`), written once: ring, TLS 1.2 and 1.3, these roots, no client certificate.

use std::sync::Arc;

use crate::error::ConfigError;

/// A client configuration trusting `roots`; `what` names the user in the error.
pub(crate) fn config(
    roots: rustls::RootCertStore,
    what: &str,
) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|err| ConfigError::new(format!("{what} TLS: {err}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The Mozilla root certificates (webpki-roots).
pub(crate) fn webpki_roots() -> rustls::RootCertStore {
    webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect()
}
