//! [`JwtAuthenticator`]: signed JWT access tokens (feature `jwt`).

mod claims;
mod key;

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use lru::LruCache;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use claims::ClaimMapping;
pub use key::JwtKey;

use super::authenticator::{Authenticator, Credentials, Verdict};
use super::error::AuthError;
use super::jwks::{JwksCache, JwksSource};
use crate::error::ConfigError;
use crate::principal::Principal;

/// Default number of verified tokens remembered.
pub const DEFAULT_TOKEN_CACHE: usize = 10_000;

/// Largest clock leeway accepted (also keeps `now ± leeway` far from overflow).
const MAX_LEEWAY: Duration = Duration::from_secs(3600);

/// A verified token, remembered until it expires.
struct CachedToken {
    principal: Arc<Principal>,
    expires_at: SystemTime,
}

pub(crate) struct JwtShared {
    static_keys: Vec<JwtKey>,
    jwks: Option<JwksCache>,
    issuers: Vec<String>,
    audience: String,
    leeway: Duration,
    claims: ClaimMapping,
    cache: Option<Mutex<LruCache<[u8; 32], CachedToken>>>,
}

/// Verifies JWT bearer tokens: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384 and
/// EdDSA, each only with keys configured for it. Checks `exp`, `nbf`, `iss` and `aud`
/// (the server's canonical URI, RFC 8707) with a leeway, and maps claims to a
/// [`Principal`]. A verified token is remembered (keyed by its SHA-256) until its `exp`, so
/// repeating it costs no signature check. A token whose `exp` lies past the year 9999
/// (e.g. `u64::MAX`) is refused, however well signed: it would never expire. `iat` is not
/// read.
///
/// ```
/// use mcp_bastion::auth::{Algorithm, AuthLayer, JwtAuthenticator, JwtKey};
///
/// let secret = b"an-hmac-secret-of-at-least-32-bytes!";
/// let jwt = JwtAuthenticator::builder()
///     .key(JwtKey::hmac(secret, &[Algorithm::HS256])?)
///     .issuer("mcp-bastion-dev")
///     .audience("http://127.0.0.1:3000/mcp")
///     .build()?;
/// let auth = AuthLayer::builder().authenticator(jwt).build()?;
/// # let _ = auth;
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct JwtAuthenticator {
    shared: Arc<JwtShared>,
}

impl fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("keys", &self.shared.static_keys.len())
            .field("issuers", &self.shared.issuers)
            .field("audience", &self.shared.audience)
            .finish_non_exhaustive()
    }
}

/// Builder of [`JwtAuthenticator`].
#[derive(Debug)]
#[must_use]
pub struct JwtAuthenticatorBuilder {
    keys: Vec<JwtKey>,
    jwks: Option<JwksSource>,
    jwks_ttl: Duration,
    jwks_min_refresh: Duration,
    issuers: Vec<String>,
    audience: Option<String>,
    leeway: Duration,
    claims: ClaimMapping,
    cache_size: usize,
}

impl JwtAuthenticator {
    /// A builder: add keys or a JWKS, an issuer and the audience.
    pub fn builder() -> JwtAuthenticatorBuilder {
        JwtAuthenticatorBuilder {
            keys: Vec::new(),
            jwks: None,
            jwks_ttl: super::jwks::DEFAULT_JWKS_TTL,
            jwks_min_refresh: super::jwks::DEFAULT_JWKS_MIN_REFRESH,
            issuers: Vec::new(),
            audience: None,
            leeway: Duration::from_secs(30),
            claims: ClaimMapping::default(),
            cache_size: DEFAULT_TOKEN_CACHE,
        }
    }
}

impl JwtAuthenticatorBuilder {
    /// Adds a verification key.
    pub fn key(mut self, key: JwtKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Takes keys from a JWKS (inline, a file, or a URL with feature `jwks`).
    pub fn jwks(mut self, source: JwksSource) -> Self {
        self.jwks = Some(source);
        self
    }

    /// How long a fetched JWKS is used before it is fetched again (default 5 minutes).
    pub fn jwks_ttl(mut self, ttl: Duration) -> Self {
        self.jwks_ttl = ttl;
        self
    }

    /// The least time between two JWKS fetches, however many unknown `kid`s arrive
    /// (default 30 seconds).
    pub fn jwks_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.jwks_min_refresh = interval;
        self
    }

    /// Accepts tokens from this issuer (`iss`); several may be given. Required.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// The audience tokens must name: this server's canonical URI (RFC 8707). Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Clock skew allowed on `exp` and `nbf` (default 30 s, at most 1 hour).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// How claims map to the principal.
    pub fn claims(mut self, claims: ClaimMapping) -> Self {
        self.claims = claims;
        self
    }

    /// Verified tokens remembered (default 10,000; 0 turns the cache off).
    pub fn token_cache(mut self, entries: usize) -> Self {
        self.cache_size = entries;
        self
    }

    /// Validates the configuration.
    pub fn build(self) -> Result<JwtAuthenticator, ConfigError> {
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::new(
                "JWT leeway must be at most one hour (it widens exp and nbf)",
            ));
        }
        if self.keys.is_empty() && self.jwks.is_none() {
            return Err(ConfigError::new("JWT authenticator needs a key or a JWKS"));
        }
        if self.issuers.is_empty() {
            return Err(ConfigError::new("JWT authenticator needs an issuer (iss)"));
        }
        let audience = self.audience.ok_or_else(|| {
            ConfigError::new(
                "JWT authenticator needs an audience: this server's canonical URI (RFC 8707)",
            )
        })?;
        let jwks = self
            .jwks
            .map(|source| JwksCache::new(source, self.jwks_ttl, self.jwks_min_refresh))
            .transpose()?;
        Ok(JwtAuthenticator {
            shared: Arc::new(JwtShared {
                static_keys: self.keys,
                jwks,
                issuers: self.issuers,
                audience,
                leeway: self.leeway,
                claims: self.claims,
                cache: NonZeroUsize::new(self.cache_size).map(|n| Mutex::new(LruCache::new(n))),
            }),
        })
    }
}

/// Whether a bearer token has the shape of a compact JWS (three base64url parts).
fn looks_like_jwt(token: &str) -> bool {
    let mut parts = 0;
    for part in token.split('.') {
        parts += 1;
        if part.is_empty() && parts < 3 {
            return false;
        }
        if !part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return false;
        }
    }
    parts == 3
}

/// Whether a bearer token is a JWT this authenticator owns: the shape of a compact JWS whose
/// header is a JSON object. Anything else (an API key that happens to hold two dots) is left
/// to the other authenticators, so that both never claim the same token.
fn is_jwt(token: &str) -> bool {
    use base64::Engine;
    looks_like_jwt(token)
        && token.split('.').next().is_some_and(|header| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .is_ok_and(|json| {
                    serde_json::from_slice::<serde_json::Map<String, Value>>(&json).is_ok()
                })
        })
}

/// Why one key did not verify a token.
enum KeyOutcome {
    /// This key does not fit: try another.
    Skip,
    /// The token is refused whatever the key.
    Refuse(AuthError),
}

impl JwtShared {
    fn cached(&self, hash: &[u8; 32]) -> Option<Principal> {
        let cache = self.cache.as_ref()?;
        let mut cache = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = cache.get(hash)?;
        if SystemTime::now() < entry.expires_at {
            Some((*entry.principal).clone())
        } else {
            cache.pop(hash);
            None
        }
    }

    fn remember(&self, hash: [u8; 32], principal: &Principal) {
        let (Some(cache), Some(expires_at)) = (&self.cache, principal.expires_at) else {
            return;
        };
        let mut cache = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.put(
            hash,
            CachedToken {
                principal: Arc::new(principal.clone()),
                expires_at,
            },
        );
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.set_issuer(&self.issuers);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation
    }

    /// Verifies `token` with the keys at hand.
    pub(crate) fn verify_with<'k>(
        &self,
        token: &str,
        keys: impl Iterator<Item = &'k JwtKey>,
    ) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::invalid_token("malformed token"))?;
        let candidates = keys.filter(|key| {
            key.algorithms.contains(&header.alg) && (header.kid.is_none() || key.kid == header.kid)
        });
        let mut tried = false;
        for key in candidates {
            tried = true;
            match self.verify_one(token, header.alg, key) {
                Ok(principal) => return Ok(principal),
                Err(KeyOutcome::Skip) => {}
                Err(KeyOutcome::Refuse(err)) => return Err(err),
            }
        }
        Err(AuthError::invalid_token(if tried {
            "signature does not verify"
        } else {
            "no key for this token's algorithm and kid"
        }))
    }

    fn verify_one(
        &self,
        token: &str,
        alg: Algorithm,
        key: &JwtKey,
    ) -> Result<Principal, KeyOutcome> {
        match jsonwebtoken::decode::<Value>(token, &key.key, &self.validation(alg)) {
            Ok(data) => self
                .claims
                .principal(&data.claims)
                .map_err(KeyOutcome::Refuse),
            Err(err) => Err(match err.kind() {
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidKeyFormat
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidEddsaKey => KeyOutcome::Skip,
                ErrorKind::ExpiredSignature => {
                    KeyOutcome::Refuse(AuthError::invalid_token("token expired"))
                }
                ErrorKind::ImmatureSignature => {
                    KeyOutcome::Refuse(AuthError::invalid_token("token not yet valid (nbf)"))
                }
                ErrorKind::InvalidIssuer => {
                    KeyOutcome::Refuse(AuthError::invalid_token("wrong issuer"))
                }
                ErrorKind::InvalidAudience => KeyOutcome::Refuse(AuthError::invalid_token(
                    "token is not for this resource (aud)",
                )),
                ErrorKind::MissingRequiredClaim(claim) => KeyOutcome::Refuse(
                    AuthError::invalid_token(format!("token lacks the {claim} claim")),
                ),
                _ => KeyOutcome::Refuse(AuthError::invalid_token("malformed token")),
            }),
        }
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Verdict {
        let Some(token) = credentials.bearer().filter(|t| is_jwt(t)) else {
            return Verdict::NotMine;
        };
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(principal) = self.shared.cached(&hash) {
            return Verdict::Accept(principal);
        }
        let shared = &self.shared;
        let outcome = match &shared.jwks {
            None => Some(shared.verify_with(token, shared.static_keys.iter())),
            Some(jwks) => jwks.verify_now(shared, token),
        };
        let Some(outcome) = outcome else {
            // An unknown kid (or a stale set): fetch, at most once per interval.
            let shared = Arc::clone(shared);
            let token = token.to_owned();
            return Verdict::Pending(Box::pin(async move {
                let Some(jwks) = &shared.jwks else {
                    return Err(AuthError::invalid_token("no key set"));
                };
                let outcome = jwks.refresh_and_verify(&shared, &token).await;
                if let Ok(principal) = &outcome {
                    shared.remember(hash, principal);
                }
                outcome
            }));
        };
        match outcome {
            Ok(principal) => {
                shared.remember(hash, &principal);
                Verdict::Accept(principal)
            }
            Err(err) => Verdict::Reject(err),
        }
    }
}

impl JwtShared {
    pub(crate) fn static_keys(&self) -> &[JwtKey] {
        &self.static_keys
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::principal::AuthMethod;

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(
            looks_like_jwt("a.b."),
            "an empty signature is still a JWT shape"
        );
        assert!(!looks_like_jwt("user-dev-token"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt("a..c"));
        assert!(!looks_like_jwt("a.b+c.d"));
        assert!(
            is_jwt("eyJhbGciOiJIUzI1NiJ9.e30.c2ln"),
            "a header of {{\"alg\":\"HS256\"}}"
        );
        assert!(!is_jwt("user.dev.token"), "an API key with two dots");
        assert!(!is_jwt("bm90IGpzb24.e30.c2ln"), "a header that is not JSON");
    }

    #[test]
    fn verified_tokens_are_remembered_until_exp() {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let secret = [7u8; 32];
        let jwt = JwtAuthenticator::builder()
            .key(JwtKey::hmac(&secret, &[Algorithm::HS256]).unwrap())
            .issuer("i")
            .audience("a")
            .build()
            .unwrap();
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        let claims = serde_json::json!({"sub": "s", "iss": "i", "aud": "a", "exp": exp});
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        assert!(jwt.shared.cached(&hash).is_none());
        let headers = http::HeaderMap::new();
        let extensions = http::Extensions::new();
        let credentials = Credentials::new(Some(&token), &headers, &extensions);
        assert!(matches!(jwt.authenticate(&credentials), Verdict::Accept(_)));
        assert_eq!(
            jwt.shared.cached(&hash).unwrap().subject,
            "s",
            "second sight skips verification"
        );

        // An entry past its exp is dropped, not served.
        let mut expired = Principal::new("old", AuthMethod::Jwt);
        expired.expires_at = Some(SystemTime::now() - Duration::from_secs(1));
        jwt.shared.remember([1; 32], &expired);
        assert!(jwt.shared.cached(&[1; 32]).is_none());
    }

    #[test]
    fn builder_configuration_is_checked() {
        let builder =
            JwtAuthenticator::builder().key(JwtKey::hmac(&[7; 32], &[Algorithm::HS256]).unwrap());
        assert!(builder.build().unwrap_err().to_string().contains("issuer"));
        let builder = JwtAuthenticator::builder()
            .key(JwtKey::hmac(&[7; 32], &[Algorithm::HS256]).unwrap())
            .issuer("i");
        assert!(
            builder
                .build()
                .unwrap_err()
                .to_string()
                .contains("audience")
        );
        let builder = JwtAuthenticator::builder()
            .key(JwtKey::hmac(&[7; 32], &[Algorithm::HS256]).unwrap())
            .issuer("i")
            .audience("a")
            .leeway(Duration::MAX);
        assert!(builder.build().unwrap_err().to_string().contains("leeway"));
    }
}
