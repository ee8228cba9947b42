//! [`InvalidationWebhook`]: the signed cache-invalidation endpoint (`POST /cache/invalidate`);
//! its documentation describes the request, the signature and how to sign from a shell.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tower_service::Service;

use crate::error::{
    BodyReadTimeout, BoxError, ConfigError, Dialect, ErrorCode, FullBody, Rejection,
    is_json_content_type, json_response,
};

/// The request header carrying the signature: `t=<unix seconds>,v1=<64 hex digits>`.
pub const SIGNATURE_HEADER: &str = "x-bastion-signature";

/// How far a signature's timestamp may be from the server clock, either way, by default.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// The largest body accepted by default, in bytes (64 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// The most ids plus prefixes one request may name, by default.
pub const DEFAULT_MAX_KEYS: usize = 1000;

/// How many accepted signatures are remembered (within the window) by default; when that
/// many arrive within one window, further requests get 429 until the oldest expire.
pub const DEFAULT_REPLAY_CAPACITY: usize = 10_000;

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// What to invalidate: context ids, and id prefixes.
///
/// Deserialized from `{"ids": [...], "prefixes": [...]}`; either member may be absent,
/// any other member is refused.
///
/// ```
/// use mcp_bastion::cache::InvalidationRequest;
///
/// let request: InvalidationRequest = serde_json::from_str(r#"{"prefixes":["docs/"]}"#)?;
/// assert_eq!(request, InvalidationRequest::default().with_prefixes(["docs/"]));
/// assert!(request.ids.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct InvalidationRequest {
    /// Context ids to drop, exactly as the cache names them.
    pub ids: Vec<String>,
    /// Id prefixes: every cached context whose id starts with one of them is dropped.
    pub prefixes: Vec<String>,
}

impl InvalidationRequest {
    /// Adds these ids.
    ///
    /// ```
    /// use mcp_bastion::cache::InvalidationRequest;
    ///
    /// let request = InvalidationRequest::default().with_ids(["a/b", "a/c"]);
    /// assert_eq!(request.ids, ["a/b", "a/c"]);
    /// ```
    #[must_use]
    pub fn with_ids(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.ids.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Adds these prefixes.
    ///
    /// ```
    /// use mcp_bastion::cache::InvalidationRequest;
    ///
    /// let request = InvalidationRequest::default().with_prefixes(["docs/"]);
    /// assert_eq!(request.prefixes, ["docs/"]);
    /// ```
    #[must_use]
    pub fn with_prefixes(mut self, prefixes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.prefixes.extend(prefixes.into_iter().map(Into::into));
        self
    }
}

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

    fn mac(&self, t: &[u8], body: &[u8]) -> HmacSha256 {
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
struct Signature<'a> {
    raw_t: &'a [u8],
    t: u64,
    v1: [u8; 32],
}

impl<'a> Signature<'a> {
    fn parse(value: &'a [u8]) -> Result<Self, WebhookError> {
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
    fn verify(
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

fn decode_hex(hex: &[u8]) -> Option<[u8; 32]> {
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

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Signatures accepted within the window, oldest timestamp first.
#[derive(Debug, Default)]
struct Seen {
    entries: BTreeSet<(u64, [u8; 32])>,
    /// The latest clock reading: the window is enforced against it too, so a clock stepping
    /// back cannot revive a signature already forgotten.
    latest: u64,
}

enum Refused {
    Signature(WebhookError),
    Full { retry_after: Duration },
}

impl Seen {
    /// Records an accepted signature, refusing a replay; forgets what the window refuses
    /// anyway.
    fn record(
        &mut self,
        signature: &Signature<'_>,
        now: u64,
        window: u64,
        capacity: usize,
    ) -> Result<(), Refused> {
        self.latest = self.latest.max(now);
        while let Some(&(t, _)) = self.entries.first() {
            if t.saturating_add(window) >= self.latest {
                break;
            }
            self.entries.pop_first();
        }
        if signature.t.saturating_add(window) < self.latest {
            return Err(Refused::Signature(WebhookError::Expired));
        }
        let key = (signature.t, signature.v1);
        if self.entries.contains(&key) {
            return Err(Refused::Signature(WebhookError::Replayed));
        }
        if self.entries.len() >= capacity {
            let oldest = self.entries.first().map_or(self.latest, |&(t, _)| t);
            let wait = oldest
                .saturating_add(window)
                .saturating_add(1)
                .saturating_sub(self.latest);
            return Err(Refused::Full {
                retry_after: Duration::from_secs(wait),
            });
        }
        self.entries.insert(key);
        Ok(())
    }
}

type Invalidate = dyn Fn(&InvalidationRequest) -> usize + Send + Sync;

#[derive(Clone)]
struct Config {
    secret: WebhookSecret,
    invalidate: Arc<Invalidate>,
    window: Duration,
    max_body_bytes: usize,
    max_keys: usize,
    replay_capacity: usize,
    clock: fn() -> SystemTime,
}

/// The signed cache-invalidation endpoint (`POST /cache/invalidate`).
///
/// A deployment pipeline that has just published new contexts tells the server which cached
/// entries to drop. The request is a JSON body `{"ids": [...], "prefixes": [...]}` (either
/// member may be absent, no other member is allowed) signed with a shared secret:
///
/// ```text
/// X-Bastion-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>.<raw body>">
/// ```
///
/// The signature is compared in constant time; a timestamp more than 300 seconds (see
/// [`InvalidationWebhook::window`]) away from the server clock is refused, and so is a
/// signature already accepted once (replays). Nothing is invalidated unless every check
/// passes; the answer is then `200 {"invalidated": N}` with `N` what your closure returned.
/// Refusals are REST envelopes: 405 (not `POST`), 415 (not `application/json`), 413 (body
/// over [`max_body_bytes`](Self::max_body_bytes)), 400 (malformed header, not the JSON
/// object, more than [`max_keys`](Self::max_keys) ids and prefixes), 401 `UNAUTHORIZED`
/// ("signature missing", "signature invalid", "signature expired", "signature already
/// used"), 429 when [`replay_capacity`](Self::replay_capacity) signatures are already
/// remembered.
///
/// Signing from a shell (the secret is used as the bytes of the string, exactly as
/// `openssl -hmac` takes it; `openssl rand -hex 32` makes a good one):
///
/// ```text
/// t=$(date +%s); body='{"ids":["a/b"]}'; sig=$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$MCP_WEBHOOK_SECRET" -hex | sed 's/^.* //'); curl -X POST http://127.0.0.1:3000/cache/invalidate -H 'Content-Type: application/json' -H "X-Bastion-Signature: t=$t,v1=$sig" -d "$body"
/// ```
///
/// Mount the webhook on its own route, beside the MCP service:
///
/// ```
/// use mcp_bastion::cache::InvalidationWebhook;
///
/// let secret = "0123456789abcdef0123456789abcdef"; // read it from the environment
/// let webhook = InvalidationWebhook::new(secret, |request| {
///     // Drop the named entries from your cache; return how many were dropped.
///     request.ids.len()
/// })?;
/// let app: axum::Router = axum::Router::new().route_service("/cache/invalidate", webhook);
/// # let _ = app;
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
///
/// A sender written in Rust computes the header like this (or calls
/// [`WebhookSecret::sign`]):
///
/// ```
/// use hmac::{Hmac, Mac};
/// use sha2::Sha256;
///
/// let secret = b"0123456789abcdef0123456789abcdef";
/// let body = br#"{"ids":["a/b"]}"#;
/// let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
///
/// let mut mac = Hmac::<Sha256>::new_from_slice(secret)?;
/// mac.update(format!("{t}.").as_bytes());
/// mac.update(body);
/// let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
/// let header = format!("t={t},v1={hex}");
///
/// let expected = mcp_bastion::cache::WebhookSecret::new(secret)?.sign(t, body);
/// assert_eq!(header, expected);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A cheap-to-clone service (`Error = Infallible`): every clone shares the configuration
/// and the memory of accepted signatures. It answers any path; mount it on
/// `/cache/invalidate`. In memory:
///
/// ```
/// use std::time::SystemTime;
/// use http::Request;
/// use http_body_util::{BodyExt, Full};
/// use mcp_bastion::cache::{InvalidationWebhook, WebhookSecret};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let secret = "0123456789abcdef0123456789abcdef";
/// let webhook = InvalidationWebhook::new(secret, |request| request.ids.len() + request.prefixes.len())?;
///
/// let body = r#"{"ids":["a/b"],"prefixes":["docs/"]}"#;
/// let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?.as_secs();
/// let request = Request::post("/cache/invalidate")
///     .header("content-type", "application/json")
///     .header("x-bastion-signature", WebhookSecret::new(secret)?.sign(now, body.as_bytes()))
///     .body(Full::new(bytes::Bytes::from(body)))?;
/// let response = webhook.clone().oneshot(request.clone()).await?;
/// assert_eq!(response.status(), 200);
/// let answer = response.into_body().collect().await?.to_bytes();
/// assert_eq!(&answer[..], br#"{"invalidated":2}"#);
///
/// // The same request again is a replay.
/// let response = webhook.oneshot(request).await?;
/// assert_eq!(response.status(), 401);
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct InvalidationWebhook {
    config: Arc<Config>,
    seen: Arc<Mutex<Seen>>,
}

impl fmt::Debug for InvalidationWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidationWebhook")
            .field("window", &self.config.window)
            .field("max_body_bytes", &self.config.max_body_bytes)
            .field("max_keys", &self.config.max_keys)
            .field("replay_capacity", &self.config.replay_capacity)
            .finish_non_exhaustive()
    }
}

impl InvalidationWebhook {
    /// A webhook checking signatures made with `secret` (at least [`MIN_SECRET_BYTES`]) and
    /// calling `invalidate` with each accepted request; it returns how many entries it
    /// dropped.
    ///
    /// ```
    /// use mcp_bastion::cache::InvalidationWebhook;
    ///
    /// let webhook = InvalidationWebhook::new("0123456789abcdef0123456789abcdef", |_| 0)?;
    /// assert!(!format!("{webhook:?}").contains("0123"));
    /// assert!(InvalidationWebhook::new("short", |_| 0).is_err());
    /// # Ok::<(), mcp_bastion::error::ConfigError>(())
    /// ```
    pub fn new(
        secret: impl AsRef<[u8]>,
        invalidate: impl Fn(&InvalidationRequest) -> usize + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        Ok(Self::from_secret(WebhookSecret::new(secret)?, invalidate))
    }

    /// A webhook with an already checked [`WebhookSecret`].
    ///
    /// ```
    /// use mcp_bastion::cache::{InvalidationWebhook, WebhookSecret};
    ///
    /// let secret = WebhookSecret::new("0123456789abcdef0123456789abcdef")?;
    /// let webhook = InvalidationWebhook::from_secret(secret, |request| request.ids.len());
    /// # let _ = webhook;
    /// # Ok::<(), mcp_bastion::error::ConfigError>(())
    /// ```
    pub fn from_secret(
        secret: WebhookSecret,
        invalidate: impl Fn(&InvalidationRequest) -> usize + Send + Sync + 'static,
    ) -> Self {
        Self {
            config: Arc::new(Config {
                secret,
                invalidate: Arc::new(invalidate),
                window: DEFAULT_WINDOW,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                max_keys: DEFAULT_MAX_KEYS,
                replay_capacity: DEFAULT_REPLAY_CAPACITY,
                clock: SystemTime::now,
            }),
            seen: Arc::new(Mutex::new(Seen::default())),
        }
    }

    /// How far a timestamp may be from the server clock, either way, in whole seconds
    /// (default [`DEFAULT_WINDOW`]). Accepted signatures are remembered this long.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_bastion::cache::InvalidationWebhook;
    ///
    /// let webhook = InvalidationWebhook::new("0123456789abcdef0123456789abcdef", |_| 0)?
    ///     .window(Duration::from_secs(60));
    /// # let _ = webhook;
    /// # Ok::<(), mcp_bastion::error::ConfigError>(())
    /// ```
    pub fn window(mut self, window: Duration) -> Self {
        Arc::make_mut(&mut self.config).window = window;
        self
    }

    /// The largest body accepted, in bytes (default [`DEFAULT_MAX_BODY_BYTES`]); more is
    /// answered with 413.
    ///
    /// ```
    /// use mcp_bastion::cache::InvalidationWebhook;
    ///
    /// let webhook = InvalidationWebhook::new("0123456789abcdef0123456789abcdef", |_| 0)?
    ///     .max_body_bytes(16 * 1024);
    /// # let _ = webhook;
    /// # Ok::<(), mcp_bastion::error::ConfigError>(())
    /// ```
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        Arc::make_mut(&mut self.config).max_body_bytes = limit;
        self
    }

    /// The most ids plus prefixes one request may name (default [`DEFAULT_MAX_KEYS`]); more
    /// is answered with 400.
    ///
    /// ```
    /// use mcp_bastion::cache::InvalidationWebhook;
    ///
    /// let webhook = InvalidationWebhook::new("0123456789abcdef0123456789abcdef", |_| 0)?
    ///     .max_keys(100);
    /// # let _ = webhook;
    /// # Ok::<(), mcp_bastion::error::ConfigError>(())
    /// ```
    pub fn max_keys(mut self, limit: usize) -> Self {
        Arc::make_mut(&mut self.config).max_keys = limit;
        self
    }

    /// How many accepted signatures are remembered within one window (default
    /// [`DEFAULT_REPLAY_CAPACITY`]). Beyond that, requests are answered with 429 and
    /// `Retry-After` until the oldest expire: a signature is never forgotten early.
    ///
    /// ```
    /// use mcp_bastion::cache::InvalidationWebhook;
    ///
    /// let webhook = InvalidationWebhook::new("0123456789abcdef0123456789abcdef", |_| 0)?
    ///     .replay_capacity(1000);
    /// # let _ = webhook;
    /// # Ok::<(), mcp_bastion::error::ConfigError>(())
    /// ```
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        Arc::make_mut(&mut self.config).replay_capacity = capacity;
        self
    }

    /// Replaces the clock (tests).
    #[cfg(test)]
    pub(crate) fn with_clock(mut self, clock: fn() -> SystemTime) -> Self {
        Arc::make_mut(&mut self.config).clock = clock;
        self
    }

    async fn handle<B>(&self, request: Request<B>) -> Result<usize, Rejection>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let config = &*self.config;
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            return Err(Rejection::method_not_allowed("POST"));
        }
        if !is_json_content_type(&parts.headers, false) {
            return Err(Rejection::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be application/json",
            ));
        }
        let mut values = parts.headers.get_all(SIGNATURE_HEADER).iter();
        let value = values.next().ok_or(WebhookError::Missing)?;
        if values.next().is_some() {
            return Err(WebhookError::Malformed("several X-Bastion-Signature headers").into());
        }
        let signature = Signature::parse(value.as_bytes())?;
        let body = read_body(&parts.headers, body, config.max_body_bytes).await?;
        let now = unix_seconds((config.clock)());
        let window = config.window.as_secs();
        signature.verify(&config.secret, &body, now, window)?;
        let request = parse_request(&body, config.max_keys)?;
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(&signature, now, window, config.replay_capacity)
            .map_err(|refused| match refused {
                Refused::Signature(err) => Rejection::from(err),
                Refused::Full { retry_after } => Rejection::new(
                    ErrorCode::RateLimited,
                    "too many invalidations within the signature window",
                )
                .with_retry_after(retry_after),
            })?;
        let invalidated = (config.invalidate)(&request);
        tracing::info!(
            ids = request.ids.len(),
            prefixes = request.prefixes.len(),
            invalidated,
            "cache invalidation accepted"
        );
        Ok(invalidated)
    }
}

async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, Rejection>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let too_large = || {
        Rejection::new(
            ErrorCode::PayloadTooLarge,
            format!("the body exceeds {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(too_large()),
        Err(err) if err.is::<BodyReadTimeout>() => Err(Rejection::new(
            ErrorCode::Timeout,
            "Request Timeout: the body did not arrive in time",
        )
        .with_status(StatusCode::REQUEST_TIMEOUT)),
        Err(_) => Err(Rejection::bad_request("the body could not be read")),
    }
}

fn parse_request(body: &[u8], max_keys: usize) -> Result<InvalidationRequest, Rejection> {
    // serde would also read a struct from an array (`[["a/b"]]`): only an object is allowed.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(Rejection::bad_request(
            r#"the body must be a JSON object {"ids": [...], "prefixes": [...]}"#,
        ));
    }
    let request: InvalidationRequest = serde_json::from_slice(body).map_err(|err| {
        Rejection::bad_request(format!(
            r#"the body must be {{"ids": [...], "prefixes": [...]}}: {err}"#
        ))
    })?;
    if request.ids.len().saturating_add(request.prefixes.len()) > max_keys {
        return Err(Rejection::bad_request(format!(
            "a request names at most {max_keys} ids and prefixes"
        )));
    }
    Ok(request)
}

/// The future returned by [`InvalidationWebhook`].
pub type WebhookFuture =
    Pin<Box<dyn Future<Output = Result<Response<FullBody>, Infallible>> + Send>>;

impl<B> Service<Request<B>> for InvalidationWebhook
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<FullBody>;
    type Error = Infallible;
    type Future = WebhookFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let webhook = self.clone();
        Box::pin(async move {
            Ok(match webhook.handle(request).await {
                Ok(invalidated) => json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "invalidated": invalidated }),
                ),
                Err(rejection) => {
                    tracing::debug!(reason = %rejection, "cache invalidation refused");
                    rejection.into_response(Dialect::Rest)
                }
            })
        })
    }
}

#[cfg(test)]
mod tests;
