//! [`RetryLayer`]: retries of transient failures, for idempotent requests only, with
//! exponential backoff and full jitter, `Retry-After` honoured, and a retry budget shared by
//! every clone so that retries cannot multiply an outage.
//!
//! Built on `tower::retry` (its `Retry` service and `TpsBudget`); this module is the policy:
//! what is retried, how long to wait, and when to stop.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Request, Response, StatusCode, header};
use tower::retry::budget::{Budget as _, TpsBudget};
use tower_layer::Layer;

use crate::error::ConfigError;

/// Marks a request as safe to send twice (an MCP read: `resources/read`, `resources/list`,
/// ...), so that [`RetryLayer`] may retry it although its method is `POST`.
///
/// ```
/// use mcp_bastion::client::Idempotent;
///
/// let mut request = http::Request::post("/mcp").body(()).unwrap();
/// request.extensions_mut().insert(Idempotent);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Idempotent;

/// Default most attempts per request, the first included.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default first backoff (before jitter); each retry doubles it.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(100);
/// Default longest backoff, and the longest `Retry-After` waited for.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(10);

/// Retries for a tower HTTP client service. See the [module documentation](self).
///
/// Retried: a transport error (the inner service's `Err`), `429`, `502`, `503` and `504`, and
/// only for idempotent requests (`GET`, `HEAD`, `OPTIONS`, or a request carrying the
/// [`Idempotent`] marker, as `McpClient` sets on MCP reads). Never other statuses. The wait is
/// a random duration up to `base × 2^(retry − 1)` (full jitter), at most the maximum delay,
/// and never shorter than the server's `Retry-After`; a `Retry-After` longer than the maximum
/// delay is not waited for (the answer is returned as it is), nor is a wait that would outlast
/// the deadline of an `McpClient` call. Each retry takes a token from
/// the budget, which every original request refills: by default retries add at most 20% to
/// the load (plus 10 per second).
///
/// The request body must be `Clone` (a buffered body such as `Full<Bytes>`), as a retry
/// sends it again.
///
/// ```
/// use std::time::Duration;
/// use mcp_bastion::client::RetryLayer;
///
/// let retry = RetryLayer::builder()
///     .max_attempts(4)
///     .base_delay(Duration::from_millis(50))
///     .build()?;
/// # let _ = retry;
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer {
    settings: Arc<Settings>,
}

#[derive(Debug)]
struct Settings {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    budget: TpsBudget,
}

/// Builds a [`RetryLayer`]; [`build`](Self::build) checks the values.
#[derive(Debug, Clone)]
pub struct RetryLayerBuilder {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    budget_window: Duration,
    budget_min_per_second: u32,
    budget_ratio: f32,
}

impl Default for RetryLayerBuilder {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay: DEFAULT_BASE_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            budget_window: Duration::from_secs(10),
            budget_min_per_second: 10,
            budget_ratio: 0.2,
        }
    }
}

impl RetryLayerBuilder {
    /// Most attempts per request, the first included (1 to 10; 1 means no retries).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The first backoff before jitter (1 ms to the maximum delay).
    #[must_use]
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest backoff, and the longest `Retry-After` waited for (at most 5 minutes).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The retry budget: over `window` (1 s to 60 s), retries may add `ratio` (0 to 1) of
    /// the requests sent, plus `min_per_second` retries a second whatever the traffic.
    #[must_use]
    pub fn budget(mut self, window: Duration, min_per_second: u32, ratio: f32) -> Self {
        self.budget_window = window;
        self.budget_min_per_second = min_per_second;
        self.budget_ratio = ratio;
        self
    }

    /// The layer, or what is wrong with the values.
    pub fn build(self) -> Result<RetryLayer, ConfigError> {
        if !(1..=10).contains(&self.max_attempts) {
            return Err(ConfigError::new("retry: max_attempts must be 1 to 10"));
        }
        if self.max_delay > Duration::from_secs(300) {
            return Err(ConfigError::new(
                "retry: max_delay must be at most 5 minutes",
            ));
        }
        if self.base_delay < Duration::from_millis(1) || self.base_delay > self.max_delay {
            return Err(ConfigError::new(
                "retry: base_delay must be at least 1 ms and at most max_delay",
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.budget_window) {
            return Err(ConfigError::new(
                "retry: the budget window must be 1 s to 60 s",
            ));
        }
        if !(0.0..=1.0).contains(&self.budget_ratio) {
            return Err(ConfigError::new("retry: the budget ratio must be 0 to 1"));
        }
        Ok(RetryLayer {
            settings: Arc::new(Settings {
                max_attempts: self.max_attempts,
                base_delay: self.base_delay,
                max_delay: self.max_delay,
                budget: TpsBudget::new(
                    self.budget_window,
                    self.budget_min_per_second,
                    self.budget_ratio,
                ),
            }),
        })
    }
}

impl RetryLayer {
    /// A builder with the defaults: 3 attempts, 100 ms base delay, 10 s maximum, a budget of
    /// 20% of the requests over 10 s plus 10 a second.
    pub fn builder() -> RetryLayerBuilder {
        RetryLayerBuilder::default()
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = tower::retry::Retry<RetryPolicy, S>;

    fn layer(&self, inner: S) -> Self::Service {
        tower::retry::Retry::new(
            RetryPolicy {
                settings: Arc::clone(&self.settings),
                attempts: 0,
            },
            inner,
        )
    }
}

/// The retry decisions of one request (a fresh copy for each).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    settings: Arc<Settings>,
    /// Attempts made so far for this request.
    attempts: u32,
}

impl<B: Clone, ResBody, E> tower::retry::Policy<Request<B>, Response<ResBody>, E> for RetryPolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut Request<B>,
        result: &mut Result<Response<ResBody>, E>,
    ) -> Option<Self::Future> {
        self.attempts += 1;
        if !idempotent(request) || self.attempts >= self.settings.max_attempts {
            return None;
        }
        let server_wait = match result {
            // A transport error: the request may not have arrived; it is idempotent, so
            // sending it again is safe.
            Err(_) => None,
            Ok(response) if transient(response.status()) => retry_after(response.headers()),
            Ok(_) => return None,
        };
        if server_wait.is_some_and(|wait| wait > self.settings.max_delay) {
            // Longer than we wait: the caller sees the answer and its Retry-After.
            return None;
        }
        let delay = backoff(&self.settings, self.attempts).max(server_wait.unwrap_or_default());
        let deadline = request.extensions().get::<CallDeadline>();
        if deadline.is_some_and(|deadline| tokio::time::Instant::now() + delay >= deadline.0) {
            // The call would end during the wait: the caller sees the answer now, rather than
            // a timeout that hides it.
            tracing::debug!(
                ?delay,
                "the wait outlasts the call's deadline; not retrying"
            );
            return None;
        }
        if !self.settings.budget.withdraw() {
            tracing::debug!("retry budget spent; not retrying");
            return None;
        }
        tracing::debug!(attempt = self.attempts, ?delay, "retrying");
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        if self.attempts == 0 {
            // Every original request refills the budget a little.
            self.settings.budget.deposit();
        }
        if !idempotent(request) {
            return None;
        }
        let mut copy = Request::new(request.body().clone());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        // Every extension, not the marker only: a retry must carry what the first attempt
        // carried (the TraceContext that TraceparentLayer sends on, say).
        *copy.extensions_mut() = request.extensions().clone();
        Some(copy)
    }
}

/// When the whole call ends (`McpClient` puts it in the request's extensions): a retry whose
/// wait would reach it is not made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallDeadline(pub(crate) tokio::time::Instant);

/// Requests that may be sent twice.
fn idempotent<B>(request: &Request<B>) -> bool {
    matches!(
        *request.method(),
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    ) || request.extensions().get::<Idempotent>().is_some()
}

/// Answers that may go away by themselves.
fn transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// A random wait up to `base × 2^(retry − 1)`, at most the maximum (full jitter).
fn backoff(settings: &Settings, retry: u32) -> Duration {
    let ceiling = settings
        .base_delay
        .saturating_mul(1_u32 << (retry - 1).min(20))
        .min(settings.max_delay);
    let mut bytes = [0_u8; 8];
    // Without randomness, the full ceiling: slower, never a synchronised retry storm of 0s.
    let fraction = if getrandom::getrandom(&mut bytes).is_ok() {
        #[allow(clippy::cast_precision_loss)]
        let random = (u64::from_le_bytes(bytes) >> 11) as f64 / (1_u64 << 53) as f64;
        random
    } else {
        1.0
    };
    ceiling.mul_f64(fraction)
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = date.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests;
