//! [`ApiKeyStore`]: static API keys, held as SHA-256 hashes, replaceable at run time.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{HeaderName, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::authenticator::{Authenticator, Credentials, Verdict};
use super::error::AuthError;
use crate::error::ConfigError;
use crate::principal::{AuthMethod, Principal};

/// Default header carrying an API key (besides `Authorization: Bearer`).
pub const DEFAULT_API_KEY_HEADER: &str = "x-api-key";

/// One API key: the SHA-256 of the key and the principal it stands for. The plain key is
/// never stored.
#[derive(Clone)]
pub struct ApiKey {
    hash: [u8; 32],
    principal: Principal,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("subject", &self.principal.subject)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// A key given in plain text (hashed here); at least 8 characters of visible ASCII.
    pub fn new(key: &str, principal: Principal) -> Result<Self, ConfigError> {
        if key.len() < 8 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(format!(
                "API key for {:?} must be at least 8 visible ASCII characters",
                principal.subject
            )));
        }
        Ok(Self::hashed(
            Sha256::digest(key.as_bytes()).into(),
            principal,
        ))
    }

    /// A key given as the hex SHA-256 of the key (64 hex digits, optional `sha256:` prefix).
    pub fn from_sha256_hex(hex: &str, principal: Principal) -> Result<Self, ConfigError> {
        let digits = hex.strip_prefix("sha256:").unwrap_or(hex);
        let mut hash = [0u8; 32];
        let valid = digits.len() == 64
            && digits
                .as_bytes()
                .chunks(2)
                .zip(hash.iter_mut())
                .all(|(pair, out)| {
                    std::str::from_utf8(pair)
                        .ok()
                        .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                        .map(|byte| *out = byte)
                        .is_some()
                });
        if !valid {
            return Err(ConfigError::new(format!(
                "API key hash for {:?} must be 64 hex digits (SHA-256)",
                principal.subject
            )));
        }
        Ok(Self::hashed(hash, principal))
    }

    fn hashed(hash: [u8; 32], mut principal: Principal) -> Self {
        principal.auth_method = AuthMethod::ApiKey;
        Self { hash, principal }
    }
}

type KeyTable = HashMap<[u8; 32], Arc<Principal>>;

fn table(keys: impl IntoIterator<Item = ApiKey>) -> Result<KeyTable, ConfigError> {
    let mut table = HashMap::new();
    for key in keys {
        let subject = key.principal.subject.clone();
        if table.insert(key.hash, Arc::new(key.principal)).is_some() {
            return Err(ConfigError::new(format!(
                "API key for {subject:?} is configured twice"
            )));
        }
    }
    Ok(table)
}

/// API keys, checked in `Authorization: Bearer <key>` and in a configurable header
/// (default `X-API-Key`). Clones share the key set; [`replace`](Self::replace) rotates keys
/// for every clone at once, without a restart.
///
/// Presented keys are hashed and looked up by hash, and the hashes compared in constant time,
/// so neither the lookup nor the comparison depends on the secret's bytes.
///
/// Add a store with [`AuthLayerBuilder::api_keys`](super::AuthLayerBuilder::api_keys): the
/// layer then knows its header, strips it, and refuses a request that also carries another
/// credential (400). A key in the header next to an `Authorization` header is never accepted.
///
/// ```
/// use mcp_bastion::auth::{ApiKey, ApiKeyStore};
/// use mcp_bastion::principal::{AuthMethod, Principal};
///
/// let dev = Principal::new("devUser", AuthMethod::ApiKey).with_role("developer");
/// let store = ApiKeyStore::new([ApiKey::new("user-dev-token", dev)?])?;
/// assert_eq!(store.lookup("user-dev-token").unwrap().subject, "devUser");
/// assert!(store.lookup("user-dev-tokeN").is_none());
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ApiKeyStore {
    keys: Arc<ArcSwap<KeyTable>>,
    header: HeaderName,
}

impl fmt::Debug for ApiKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyStore")
            .field("keys", &self.keys.load().len())
            .field("header", &self.header)
            .finish()
    }
}

impl ApiKeyStore {
    /// A store with these keys; two identical keys are a configuration error.
    pub fn new(keys: impl IntoIterator<Item = ApiKey>) -> Result<Self, ConfigError> {
        Ok(Self {
            keys: Arc::new(ArcSwap::from_pointee(table(keys)?)),
            header: HeaderName::from_static(DEFAULT_API_KEY_HEADER),
        })
    }

    /// Reads keys from `header` instead of `X-API-Key`.
    pub fn with_header(mut self, header: &str) -> Result<Self, ConfigError> {
        self.header = HeaderName::try_from(header)
            .map_err(|_| ConfigError::new(format!("{header:?} is not a valid header name")))?;
        Ok(self)
    }

    /// The header keys are read from (besides `Authorization`).
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// Replaces the whole key set atomically; on error the old set keeps serving.
    pub fn replace(&self, keys: impl IntoIterator<Item = ApiKey>) -> Result<(), ConfigError> {
        self.keys.store(Arc::new(table(keys)?));
        Ok(())
    }

    /// The principal of `key`, if it is one of ours.
    pub fn lookup(&self, key: &str) -> Option<Arc<Principal>> {
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let keys = self.keys.load();
        let (stored, principal) = keys.get_key_value(&hash)?;
        bool::from(stored.ct_eq(&hash)).then(|| Arc::clone(principal))
    }
}

impl Authenticator for ApiKeyStore {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Verdict {
        // Two keys in the header are ambiguous (also when the store was added with
        // `authenticator` rather than `api_keys`, so the layer does not know the header).
        if credentials.repeats(&self.header) {
            return Verdict::Reject(AuthError::InvalidRequest(
                format!("more than one {} header", self.header).into(),
            ));
        }
        // The dedicated header is unambiguous: a wrong key there is refused outright.
        if let Some(value) = credentials.header(self.header.as_str()) {
            // Next to an `Authorization` header it is a second credential (the layer says so
            // first when the store came in through `api_keys`).
            if credentials.header(header::AUTHORIZATION.as_str()).is_some() {
                return Verdict::Reject(AuthError::InvalidRequest(
                    "more than one credential".into(),
                ));
            }
            return match value.to_str().ok().and_then(|key| self.lookup(key.trim())) {
                Some(principal) => Verdict::Accept((*principal).clone()),
                None => Verdict::Reject(AuthError::invalid_token("unknown API key")),
            };
        }
        // A bearer token may be a JWT for another authenticator: pass it on if unknown here.
        match credentials.bearer().and_then(|token| self.lookup(token)) {
            Some(principal) => Verdict::Accept((*principal).clone()),
            None => Verdict::NotMine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(name: &str) -> Principal {
        Principal::new(name, AuthMethod::Anonymous)
    }

    #[test]
    fn plain_and_hashed_keys_and_rotation() {
        let hex = "sha256:8ba1c4f0c1a9f0e6f6a5b2a1f4f5ab2b2ab3f6c9a3d7e1f0a1b2c3d4e5f60718";
        let store = ApiKeyStore::new([
            ApiKey::new("user-dev-token", principal("dev")).unwrap(),
            ApiKey::from_sha256_hex(hex, principal("hashed")).unwrap(),
        ])
        .unwrap();
        let dev = store.lookup("user-dev-token").unwrap();
        assert_eq!(dev.subject, "dev");
        assert_eq!(dev.auth_method, AuthMethod::ApiKey);
        assert!(
            store.lookup("user-dev-tokem").is_none(),
            "same length, wrong key"
        );

        let clone = store.clone();
        store
            .replace([ApiKey::new("rotated-key-1", principal("new")).unwrap()])
            .unwrap();
        assert!(
            clone.lookup("user-dev-token").is_none(),
            "clones see the rotation"
        );
        assert_eq!(clone.lookup("rotated-key-1").unwrap().subject, "new");
        let duplicate = [
            ApiKey::new("rotated-key-2", principal("a")).unwrap(),
            ApiKey::new("rotated-key-2", principal("b")).unwrap(),
        ];
        assert!(store.replace(duplicate).is_err());
        assert!(
            clone.lookup("rotated-key-1").is_some(),
            "a refused set changes nothing"
        );
    }

    #[test]
    fn configuration_errors() {
        assert!(ApiKey::new("short", principal("x")).is_err());
        assert!(ApiKey::new("has a space", principal("x")).is_err());
        assert!(ApiKey::from_sha256_hex("abc", principal("x")).is_err());
        assert!(ApiKey::from_sha256_hex(&"zz".repeat(32), principal("x")).is_err());
        assert!(
            ApiKeyStore::new([])
                .unwrap()
                .with_header("bad header")
                .is_err()
        );
        let debug = format!(
            "{:?}",
            ApiKey::new("super-secret-key", principal("x")).unwrap()
        );
        assert!(!debug.contains("super-secret-key"));
    }
}
