//! JSON Web Key Sets: inline, from a file, or from a URL (feature `jwks`), cached with a TTL,
//! refreshed on an unknown `kid` at most once per interval, last good set kept on failure.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
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
    /// An `http://` URL, fetched with hyper-util (feature `jwks`).
    #[cfg(feature = "jwks")]
    Url(http::Uri),
}

impl fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(keys) => f.debug_tuple("Inline").field(&keys.len()).finish(),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            #[cfg(feature = "jwks")]
            Self::Url(uri) => f.debug_tuple("Url").field(uri).finish(),
        }
    }
}

impl JwksSource {
    /// A fixed key set from its JSON.
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

    /// A key set fetched from an `http://` URL (feature `jwks`).
    #[cfg(feature = "jwks")]
    pub fn url(url: &str) -> Result<Self, ConfigError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|err| ConfigError::new(format!("JWKS URL {url:?}: {err}")))?;
        match uri.scheme_str() {
            Some("http") if uri.authority().is_some() => Ok(Self::Url(uri)),
            Some("https") => Err(ConfigError::new(format!(
                "JWKS URL {url:?}: https is not supported yet; serve the key set over a trusted local http endpoint or a file"
            ))),
            _ => Err(ConfigError::new(format!(
                "JWKS URL {url:?} must be an absolute http:// URL"
            ))),
        }
    }

    async fn fetch(&self) -> Result<Vec<JwtKey>, BoxError> {
        match self {
            Self::Inline(keys) => Ok(keys.to_vec()),
            Self::File(path) => {
                let bytes = tokio::fs::read(path).await?;
                Ok(parse_jwks(&bytes)?)
            }
            #[cfg(feature = "jwks")]
            Self::Url(uri) => fetch_url(uri).await,
        }
    }
}

/// The signing keys of a JWKS document; encryption keys are skipped, and a set with no
/// usable key is an error.
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

#[cfg(feature = "jwks")]
async fn fetch_url(uri: &http::Uri) -> Result<Vec<JwtKey>, BoxError> {
    use http_body_util::{BodyExt, Empty, Limited};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = http::Request::get(uri.clone())
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
