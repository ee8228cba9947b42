//! JSON Web Key Sets: inline, from a file, or from a URL (feature `jwks`), cached with a TTL,
//! refreshed on an unknown `kid` at most once per interval, last good set kept on failure.
//! Only public keys are taken from a set: shared-secret (`oct`) keys are ignored with a
//! warning, so HS* tokens verify only with secrets given to [`JwtKey::hmac`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use tokio::time::Instant;

use super::error::AuthError;
use super::jwt::{JwtKey, JwtShared};
use crate::error::{BoxError, ConfigError};
use crate::principal::Principal;

/// Default time a fetched key set is used before it is fetched again.
pub const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(300);
/// Default least time between two fetches.
pub const DEFAULT_JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);
/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Where a JWKS comes from.
#[derive(Clone)]
#[non_exhaustive]
pub enum JwksSource {
    /// A fixed set, given as JSON.
    Inline(Arc<[JwtKey]>),
    /// A file, read at start and again after each TTL.
    File(PathBuf),
    /// An `https://` URL (or `http://` to a loopback host), fetched with hyper-util
    /// (feature `jwks`).
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    Url(JwksUrl),
}

impl fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(keys) => f.debug_tuple("Inline").field(&keys.len()).finish(),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            #[cfg(feature = "jwks")]
            Self::Url(url) => f.debug_tuple("Url").field(&url.uri).finish(),
        }
    }
}

impl JwksSource {
    /// A fixed key set from its JSON (public keys; `oct` keys are ignored with a warning).
    pub fn inline(json: &str) -> Result<Self, ConfigError> {
        Ok(Self::Inline(parse_jwks(json.as_bytes())?.into()))
    }

    /// A key set read from a file (checked now, re-read after each TTL).
    pub fn file(path: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let path = path.into();
        let bytes = std::fs::read(&path)
            .map_err(|err| ConfigError::new(format!("JWKS file {}: {err}", path.display())))?;
        parse_jwks(&bytes)
            .map_err(|err| ConfigError::new(format!("JWKS file {}: {err}", path.display())))?;
        Ok(Self::File(path))
    }

    /// A key set fetched from a URL (feature `jwks`). `https://` URLs are verified against
    /// the Mozilla root certificates (webpki-roots). Plain `http://` is refused unless the
    /// host is loopback (`127.0.0.1` or another `127.*` address, `[::1]`, `localhost`), for
    /// tests and local development: anywhere else the key set could be swapped in transit.
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn url(url: &str) -> Result<Self, ConfigError> {
        Self::url_with_roots(url, crate::tls_client::webpki_roots())
    }

    /// A key set fetched from an `https://` URL whose certificate chains to this CA (PEM)
    /// only, for identity providers under a private CA (feature `jwks`).
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn url_with_ca(url: &str, ca_pem: &[u8]) -> Result<Self, ConfigError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|err| ConfigError::new(format!("JWKS CA: {err}")))?;
            roots
                .add(cert)
                .map_err(|err| ConfigError::new(format!("JWKS CA: {err}")))?;
        }
        if roots.is_empty() {
            return Err(ConfigError::new("JWKS CA: no PEM certificate found"));
        }
        Self::url_with_roots(url, roots)
    }

    #[cfg(feature = "jwks")]
    fn url_with_roots(url: &str, roots: rustls::RootCertStore) -> Result<Self, ConfigError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|err| ConfigError::new(format!("JWKS URL {url:?}: {err}")))?;
        let Some(host) = uri.host() else {
            return Err(ConfigError::new(format!(
                "JWKS URL {url:?} must be an absolute https:// URL"
            )));
        };
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if is_loopback(host) => {}
            Some("http") => {
                return Err(ConfigError::new(format!(
                    "JWKS URL {url:?}: https is required (plain http only to a loopback host: \
                     127.0.0.1, ::1, localhost)"
                )));
            }
            _ => {
                return Err(ConfigError::new(format!(
                    "JWKS URL {url:?} must be an absolute https:// URL"
                )));
            }
        }
        Ok(Self::Url(JwksUrl {
            uri,
            tls: crate::tls_client::config(roots, "JWKS")?,
        }))
    }

    async fn fetch(&self) -> Result<Vec<JwtKey>, BoxError> {
        match self {
            Self::Inline(keys) => Ok(keys.to_vec()),
            Self::File(path) => {
                let bytes = tokio::fs::read(path).await?;
                Ok(parse_jwks(&bytes)?)
            }
            #[cfg(feature = "jwks")]
            Self::Url(url) => fetch_url(url).await,
        }
    }
}

/// The public signing keys of a JWKS document; encryption keys are skipped, shared-secret
/// (`oct`) keys ignored with a warning naming their `kid`, and a set with no usable key is an
/// error.
fn parse_jwks(bytes: &[u8]) -> Result<Vec<JwtKey>, ConfigError> {
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(ConfigError::new("JWKS document is larger than 1 MiB"));
    }
    let set: JwkSet = serde_json::from_slice(bytes)
        .map_err(|err| ConfigError::new(format!("JWKS is not a key set: {err}")))?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for jwk in &set.keys {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            // Whoever can read the set could sign with a shared secret: never use one.
            tracing::warn!(
                kid = ?jwk.common.key_id,
                "ignoring a shared-secret ('oct') key in a JWKS; configure HMAC secrets with JwtKey::hmac"
            );
            continue;
        }
        match JwtKey::from_jwk(jwk) {
            Ok(key) => keys.push(key),
            Err(err) => {
                tracing::warn!(kid = ?jwk.common.key_id, error = %err, "skipping unusable JWK");
            }
        }
    }
    if keys.is_empty() {
        return Err(ConfigError::new("JWKS holds no usable signing key"));
    }
    Ok(keys)
}

/// Whether a URL host is this machine: `localhost` or a loopback address (`127.0.0.0/8`,
/// `::1`), where plain http cannot be intercepted on the network.
#[cfg(feature = "jwks")]
fn is_loopback(host: &str) -> bool {
    let address = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || address
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A JWKS URL and the TLS configuration its fetches use.
#[cfg(feature = "jwks")]
#[derive(Clone)]
pub struct JwksUrl {
    uri: http::Uri,
    tls: Arc<rustls::ClientConfig>,
}

#[cfg(feature = "jwks")]
async fn fetch_url(url: &JwksUrl) -> Result<Vec<JwtKey>, BoxError> {
    use http_body_util::{BodyExt, Empty, Limited};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*url.tls).clone())
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let request = http::Request::get(url.uri.clone())
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::new())?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request)).await??;
    if !response.status().is_success() {
        return Err(format!("JWKS endpoint answered {}", response.status()).into());
    }
    let body = tokio::time::timeout(
        Duration::from_secs(10),
        Limited::new(response.into_body(), MAX_JWKS_BYTES).collect(),
    )
    .await??
    .to_bytes();
    Ok(parse_jwks(&body)?)
}

/// The key set in use, and when it was fetched.
struct KeySet {
    keys: Vec<JwtKey>,
    fetched_at: Option<Instant>,
}

pub(crate) struct JwksCache {
    source: JwksSource,
    current: ArcSwap<KeySet>,
    ttl: Duration,
    min_refresh: Duration,
    /// When the last fetch started; held while fetching, so fetches never overlap.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl JwksCache {
    pub(crate) fn new(
        source: JwksSource,
        ttl: Duration,
        min_refresh: Duration,
    ) -> Result<Self, ConfigError> {
        let initial = match &source {
            JwksSource::Inline(keys) => KeySet {
                keys: keys.to_vec(),
                fetched_at: Some(Instant::now()),
            },
            JwksSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|err| {
                    ConfigError::new(format!("JWKS file {}: {err}", path.display()))
                })?;
                KeySet {
                    keys: parse_jwks(&bytes)?,
                    fetched_at: Some(Instant::now()),
                }
            }
            #[cfg(feature = "jwks")]
            JwksSource::Url(_) => KeySet {
                keys: Vec::new(),
                fetched_at: None,
            },
        };
        Ok(Self {
            source,
            current: ArcSwap::from_pointee(initial),
            ttl,
            min_refresh,
            last_attempt: tokio::sync::Mutex::new(None),
        })
    }

    fn refreshable(&self) -> bool {
        !matches!(self.source, JwksSource::Inline(_))
    }

    /// Verifies with the keys at hand, or `None` when a fetch should come first: the set is
    /// stale or holds no key for the token, and the last attempt is older than the interval.
    pub(crate) fn verify_now(
        &self,
        shared: &JwtShared,
        token: &str,
    ) -> Option<Result<Principal, AuthError>> {
        let current = self.current.load();
        let stale = current.fetched_at.is_none_or(|at| at.elapsed() > self.ttl);
        let known = jsonwebtoken::decode_header(token).is_ok_and(|header| {
            current
                .keys
                .iter()
                .any(|key| header.kid.is_none() || key.kid() == header.kid.as_deref())
        });
        if self.refreshable() && (stale || !known) && self.may_fetch() {
            return None;
        }
        Some(shared.verify_with(token, shared.static_keys().iter().chain(&current.keys)))
    }

    fn may_fetch(&self) -> bool {
        match self.last_attempt.try_lock() {
            Ok(last) => last.is_none_or(|at| at.elapsed() >= self.min_refresh),
            // A fetch is running: wait for it rather than refusing the token.
            Err(_) => true,
        }
    }

    /// Fetches the set (unless another request just did), then verifies.
    pub(crate) async fn refresh_and_verify(
        &self,
        shared: &JwtShared,
        token: &str,
    ) -> Result<Principal, AuthError> {
        {
            let mut last = self.last_attempt.lock().await;
            if last.is_none_or(|at| at.elapsed() >= self.min_refresh) {
                *last = Some(Instant::now());
                match self.source.fetch().await {
                    Ok(keys) => self.current.store(Arc::new(KeySet {
                        keys,
                        fetched_at: Some(Instant::now()),
                    })),
                    Err(err) => {
                        tracing::warn!(error = %err, "JWKS fetch failed; keeping the last good key set");
                    }
                }
            }
        }
        let current = self.current.load();
        shared.verify_with(token, shared.static_keys().iter().chain(&current.keys))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const SECRET_B64: &str = "YW4taG1hYy1zZWNyZXQtb2YtYXQtbGVhc3QtMzItYnl0ZXMh";

    fn oct(kid: &str) -> serde_json::Value {
        serde_json::json!({"kty": "oct", "kid": kid, "alg": "HS256", "k": SECRET_B64})
    }

    fn ec(kid: &str) -> serde_json::Value {
        serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
            "x": "M0yjKShAerO4SzfYaEgx8g8oR55v-iciivHooImVi3o",
            "y": "R8LF87y9zYYlK1SWmlzwfDp8k5fWwGyFUZ7kzEVTWX4"})
    }

    #[test]
    fn shared_secrets_in_a_key_set_are_ignored_and_named_by_kid_only() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let set = serde_json::json!({"keys": [oct("hmac-1"), ec("ec-1")]}).to_string();
        let keys =
            tracing::subscriber::with_default(subscriber, || parse_jwks(set.as_bytes())).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid(), Some("ec-1"));
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("WARN"), "{logs}");
        assert!(logs.contains("hmac-1"), "{logs}");
        assert!(!logs.contains(SECRET_B64), "the secret was logged: {logs}");

        let only_secrets = serde_json::json!({"keys": [oct("hmac-1")]}).to_string();
        let err = parse_jwks(only_secrets.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("no usable signing key"), "{err}");
        assert!(!err.contains(SECRET_B64), "{err}");
    }

    #[cfg(feature = "jwks")]
    #[test]
    fn plain_http_only_to_loopback() {
        for url in [
            "http://127.0.0.1:8080/jwks",
            "http://127.1.2.3/jwks",
            "http://[::1]:8080/jwks",
            "http://localhost/jwks",
            "http://LOCALHOST:9000/jwks",
            "https://idp.example/jwks",
        ] {
            assert!(JwksSource::url(url).is_ok(), "{url}");
        }
        for url in [
            "http://idp.example/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.idp.example/jwks",
            "http://127.0.0.1.nip.io/jwks",
            "http://[::ffff:10.0.0.1]/jwks",
        ] {
            let err = JwksSource::url(url).unwrap_err().to_string();
            assert!(err.contains("https is required"), "{url}: {err}");
        }
        assert!(JwksSource::url("ftp://idp.example/jwks").is_err());
        assert!(JwksSource::url("/jwks").is_err());
    }
}
