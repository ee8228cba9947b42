//! The signature of a webhook request: the secret, the header, the check.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::HeaderValue;
use sha2::Sha256;

use super::{DEFAULT_WINDOW, MIN_SECRET_BYTES};
use crate::error::{ConfigError, ErrorCode, Rejection};

type HmacSha256 = Hmac<Sha256>;

/// The shared secret that signs invalidation requests, at least [`MIN_SECRET_BYTES`] long.
///
/// Only the keyed HMAC state is kept; `Debug` never shows it.
///
/// ```
/// use mcp_bastion::cache::WebhookSecret;
///
/// let secret = WebhookSecret::new("0123456789abcdef0123456789abcdef")?;
/// assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
/// assert!(WebhookSecret::new("too short").is_err());
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct WebhookSecret {
    mac: HmacSha256,
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// A secret from its bytes (a string's UTF-8 bytes, as `openssl -hmac` uses it).
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::new(format!(
                "the webhook secret must be at least {MIN_SECRET_BYTES} bytes \
                 (generate one with `openssl rand -hex 32`)"
            )));
        }
        let mac = HmacSha256::new_from_slice(secret)
            .map_err(|_| ConfigError::new("the webhook secret cannot key HMAC-SHA256"))?;
        Ok(Self { mac })
    }

    /// The `X-Bastion-Signature` value a sender attaches to `body` at `timestamp` (unix
    /// seconds).
    ///
    /// ```
    /// use mcp_bastion::cache::WebhookSecret;
    ///
    /// let secret = WebhookSecret::new("0123456789abcdef0123456789abcdef")?;
    /// let header = secret.sign(1_700_000_000, br#"{"ids":["a/b"]}"#);
    /// assert!(header.starts_with("t=1700000000,v1="));
    /// assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
    /// # Ok::<(), mcp_bastion::error::ConfigError>(())
    /// ```
    pub fn sign(&self, timestamp: u64, body: &[u8]) -> String {
        let t = timestamp.to_string();
        let tag = self.mac(t.as_bytes(), body).finalize().into_bytes();
        let mut header = format!("t={t},v1=");
        for byte in tag {
            header.push(char::from(HEX[usize::from(byte >> 4)]));
            header.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        header
    }

    pub(super) fn mac(&self, t: &[u8], body: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(t);
        mac.update(b".");
        mac.update(body);
        mac
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Why a signature was refused. Descriptions never contain the secret or the expected MAC.
///
/// A malformed header is a 400 `BAD_REQUEST`; everything else a 401 `UNAUTHORIZED`.
///
/// ```
/// use mcp_bastion::cache::WebhookError;
/// use mcp_bastion::error::{ErrorCode, Rejection};
///
/// assert_eq!(WebhookError::Replayed.to_string(), "signature already used");
/// let rejection = Rejection::from(WebhookError::Expired);
/// assert_eq!(rejection.code(), ErrorCode::Unauthorized);
/// assert_eq!(rejection.message(), "signature expired");
/// assert_eq!(Rejection::from(WebhookError::Malformed("no t=<unix seconds>")).status(), 400);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookError {
    /// No `X-Bastion-Signature` header (401).
    Missing,
    /// The header is not `t=<unix seconds>,v1=<64 hex digits>`; says what is wrong (400).
    Malformed(&'static str),
    /// The MAC does not match the timestamp and body (401).
    Invalid,
    /// The timestamp is outside the window (401).
    Expired,
    /// This signature was already accepted once (401).
    Replayed,
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("signature missing: send an X-Bastion-Signature header"),
            Self::Malformed(why) => write!(f, "malformed X-Bastion-Signature header: {why}"),
            Self::Invalid => f.write_str("signature invalid"),
            Self::Expired => f.write_str("signature expired"),
            Self::Replayed => f.write_str("signature already used"),
        }
    }
}

impl std::error::Error for WebhookError {}

impl From<WebhookError> for Rejection {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::Malformed(_) => Rejection::bad_request(err.to_string()),
            _ => Rejection::new(ErrorCode::Unauthorized, err.to_string()).with_www_authenticate(
                HeaderValue::from_static("Bastion-Signature realm=\"cache-invalidation\""),
            ),
        }
    }
}

/// Checks an `X-Bastion-Signature` value against `body` at time `now`, with the default
/// ±300 s window. Pure: no replay memory (the service adds that).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use mcp_bastion::cache::{WebhookError, WebhookSecret, verify_signature};
///
/// let secret = WebhookSecret::new("0123456789abcdef0123456789abcdef")?;
/// let body = br#"{"ids":["a/b"]}"#;
/// let header = secret.sign(1_700_000_000, body);
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_100);
/// assert_eq!(verify_signature(&secret, header.as_bytes(), body, now), Ok(()));
/// assert_eq!(verify_signature(&secret, header.as_bytes(), b"{}", now), Err(WebhookError::Invalid));
/// let late = now + Duration::from_secs(300);
/// assert_eq!(verify_signature(&secret, header.as_bytes(), body, late), Err(WebhookError::Expired));
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
pub fn verify_signature(
    secret: &WebhookSecret,
    header_value: &[u8],
    body: &[u8],
    now: SystemTime,
) -> Result<(), WebhookError> {
    let signature = Signature::parse(header_value)?;
    signature.verify(secret, body, unix_seconds(now), DEFAULT_WINDOW.as_secs())
}

/// A parsed header: the timestamp as sent (it is what was signed) and the claimed MAC.
#[derive(Debug)]
pub(super) struct Signature<'a> {
    raw_t: &'a [u8],
    pub(super) t: u64,
    pub(super) v1: [u8; 32],
}

impl<'a> Signature<'a> {
    pub(super) fn parse(value: &'a [u8]) -> Result<Self, WebhookError> {
        let (mut raw_t, mut v1) = (None, None);
        for element in value.split(|&b| b == b',') {
            let element = element.trim_ascii();
            let Some(eq) = element.iter().position(|&b| b == b'=') else {
                return Err(WebhookError::Malformed(
                    "expected t=<unix seconds>,v1=<64 hex digits>",
                ));
            };
            let (key, value) = (&element[..eq], &element[eq + 1..]);
            let slot = match key {
                b"t" => &mut raw_t,
                b"v1" => &mut v1,
                // Other schemes (a future v2) are ignored, as long as they look like one.
                _ if !key.is_empty() && key.iter().all(u8::is_ascii_alphanumeric) => continue,
                _ => {
                    return Err(WebhookError::Malformed(
                        "expected t=<unix seconds>,v1=<64 hex digits>",
                    ));
                }
            };
            if slot.replace(value).is_some() {
                return Err(WebhookError::Malformed("t and v1 must appear once each"));
            }
        }
        let raw_t = raw_t.ok_or(WebhookError::Malformed("no t=<unix seconds>"))?;
        let v1 = v1.ok_or(WebhookError::Malformed("no v1=<64 hex digits>"))?;
        // At most 19 digits: always fits in a u64, and `parse` alone would accept a `+`.
        let t = (!raw_t.is_empty() && raw_t.len() <= 19 && raw_t.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(raw_t).ok()?.parse::<u64>().ok())
            .flatten()
            .ok_or(WebhookError::Malformed("t must be unix seconds"))?;
        let v1 = decode_hex(v1).ok_or(WebhookError::Malformed("v1 must be 64 hex digits"))?;
        Ok(Self { raw_t, t, v1 })
    }

    /// Checks the MAC first (so that "expired" is only ever said of authentic requests),
    /// then the window.
    pub(super) fn verify(
        &self,
        secret: &WebhookSecret,
        body: &[u8],
        now: u64,
        window: u64,
    ) -> Result<(), WebhookError> {
        secret
            .mac(self.raw_t, body)
            .verify_slice(&self.v1)
            .map_err(|_| WebhookError::Invalid)?;
        if now.abs_diff(self.t) > window {
            return Err(WebhookError::Expired);
        }
        Ok(())
    }
}

pub(super) fn decode_hex(hex: &[u8]) -> Option<[u8; 32]> {
    fn nibble(digit: u8) -> Option<u8> {
        char::from(digit)
            .to_digit(16)
            .and_then(|n| u8::try_from(n).ok())
    }
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (pair, byte) in hex.chunks_exact(2).zip(out.iter_mut()) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

pub(super) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
