//! [`InvalidationWebhook`]: the signed cache-invalidation endpoint (`POST /cache/invalidate`);
//! its documentation describes the request, the signature and how to sign from a shell.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower_service::Service;

mod request;
mod signature;

pub use request::InvalidationRequest;
use request::parse_request;
use signature::{Signature, unix_seconds};
pub use signature::{WebhookError, WebhookSecret, verify_signature};

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
