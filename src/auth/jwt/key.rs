//! [`JwtKey`]: a verification key bound to the algorithms it may verify.

use std::fmt;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::error::ConfigError;

/// A verification key and the algorithms it may verify. Binding algorithms to keys is what
/// makes `alg: none` and RSA-to-HMAC confusion impossible.
#[derive(Clone)]
pub struct JwtKey {
    pub(super) kid: Option<String>,
    pub(super) key: DecodingKey,
    pub(super) algorithms: Vec<Algorithm>,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

fn key_error(what: &str, err: &jsonwebtoken::errors::Error) -> ConfigError {
    ConfigError::new(format!("{what}: {err}"))
}

fn check_family(
    algorithms: &[Algorithm],
    family: &[Algorithm],
    what: &str,
) -> Result<(), ConfigError> {
    if algorithms.is_empty() {
        return Err(ConfigError::new(format!(
            "{what}: list at least one algorithm"
        )));
    }
    match algorithms.iter().find(|alg| !family.contains(alg)) {
        Some(alg) => Err(ConfigError::new(format!(
            "{what}: algorithm {alg:?} does not fit this key type"
        ))),
        None => Ok(()),
    }
}

const HMAC: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
const RSA: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];
const EC: [Algorithm; 2] = [Algorithm::ES256, Algorithm::ES384];
const ED: [Algorithm; 1] = [Algorithm::EdDSA];

/// Why a shared-secret JWK is refused.
const SHARED_SECRET_JWK: &str =
    "JWK: shared-secret ('oct') keys are not taken from JWKs; configure them with JwtKey::hmac";

impl JwtKey {
    /// An HMAC secret (at least 32 bytes) for HS256/384/512.
    pub fn hmac(secret: &[u8], algorithms: &[Algorithm]) -> Result<Self, ConfigError> {
        check_family(algorithms, &HMAC, "HMAC key")?;
        if secret.len() < 32 {
            return Err(ConfigError::new("HMAC secret must be at least 32 bytes"));
        }
        Ok(Self::new(DecodingKey::from_secret(secret), algorithms))
    }

    /// An RSA public key (PEM) for RS*/PS*.
    pub fn rsa_pem(pem: &[u8], algorithms: &[Algorithm]) -> Result<Self, ConfigError> {
        check_family(algorithms, &RSA, "RSA key")?;
        let key = DecodingKey::from_rsa_pem(pem).map_err(|err| key_error("RSA key", &err))?;
        Ok(Self::new(key, algorithms))
    }

    /// An EC public key (PEM) for ES256 (P-256) or ES384 (P-384).
    pub fn ec_pem(pem: &[u8], algorithms: &[Algorithm]) -> Result<Self, ConfigError> {
        check_family(algorithms, &EC, "EC key")?;
        let key = DecodingKey::from_ec_pem(pem).map_err(|err| key_error("EC key", &err))?;
        Ok(Self::new(key, algorithms))
    }

    /// An Ed25519 public key (PEM) for EdDSA.
    pub fn ed_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ed_pem(pem).map_err(|err| key_error("Ed25519 key", &err))?;
        Ok(Self::new(key, &ED))
    }

    /// A public key from a JWK (`RSA`, `EC` P-256/P-384, `OKP` Ed25519); the algorithm is the
    /// JWK's `alg`, or every algorithm of its key type.
    ///
    /// A shared-secret (`oct`) JWK is refused: a key set is meant to be read by anyone, and
    /// whoever can read a shared secret can sign tokens with it. HMAC secrets are configured
    /// with [`JwtKey::hmac`] only.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, ConfigError> {
        let family: &[Algorithm] = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => &RSA,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => &EC[..1],
                EllipticCurve::P384 => &EC[1..],
                _ => return Err(ConfigError::new("JWK: unsupported elliptic curve")),
            },
            AlgorithmParameters::OctetKeyPair(_) => &ED,
            AlgorithmParameters::OctetKey(_) => return Err(ConfigError::new(SHARED_SECRET_JWK)),
            _ => return Err(ConfigError::new("JWK: unsupported key type")),
        };
        let algorithms = match jwk.common.key_algorithm {
            Some(alg) => vec![Algorithm::try_from(alg).map_err(|err| key_error("JWK alg", &err))?],
            None => family.to_vec(),
        };
        check_family(&algorithms, family, "JWK")?;
        let key = DecodingKey::from_jwk(jwk).map_err(|err| key_error("JWK", &err))?;
        let mut key = Self::new(key, &algorithms);
        key.kid.clone_from(&jwk.common.key_id);
        Ok(key)
    }

    fn new(key: DecodingKey, algorithms: &[Algorithm]) -> Self {
        Self {
            kid: None,
            key,
            algorithms: algorithms.to_vec(),
        }
    }

    /// Names the key (`kid`). A token that names a `kid` is verified only by the key with that
    /// `kid`; a token without one by every key allowing its algorithm.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_configuration_is_checked() {
        assert!(JwtKey::hmac(b"short", &[Algorithm::HS256]).is_err());
        assert!(JwtKey::hmac(&[7; 32], &[Algorithm::RS256]).is_err());
        assert!(JwtKey::hmac(&[7; 32], &[]).is_err());
        assert!(JwtKey::rsa_pem(b"not a pem", &[Algorithm::RS256]).is_err());
    }

    #[test]
    fn shared_secret_jwks_are_refused() {
        let jwk: Jwk = serde_json::from_str(
            r#"{"kty":"oct","alg":"HS256","kid":"k1","k":"YW4taG1hYy1zZWNyZXQtb2YtYXQtbGVhc3QtMzItYnl0ZXMh"}"#,
        )
        .unwrap();
        let err = JwtKey::from_jwk(&jwk).unwrap_err().to_string();
        assert!(err.contains("JwtKey::hmac"), "{err}");
        assert!(!err.contains("YW4taG1h"), "{err}");
    }
}
