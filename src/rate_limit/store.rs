//! [`RateLimitStore`]: where the limiter's state lives, behind one small trait so a shared
//! store (Redis) can replace the in-process one without changing the layers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::quota::Quota;

/// What a store decided about one charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The units were spent.
    Allowed {
        /// Units the caller may still spend at once.
        remaining: u32,
        /// Time until the whole burst is back.
        reset: Duration,
    },
    /// Not now: this many units are not available yet.
    Limited {
        /// Time until the units asked for are available.
        retry_after: Duration,
    },
    /// More units than the quota's burst: this request can never pass.
    TooCostly,
}

impl Verdict {
    /// A verdict for a charge of zero units against a fresh quota: nothing is spent.
    pub(crate) fn unspent(quota: &Quota) -> Self {
        Self::Allowed {
            remaining: quota.burst(),
            reset: Duration::ZERO,
        }
    }
}

/// A store failed to answer (a shared store's connection, for instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// A failure described by `message` (never include a key or a secret).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate-limit store failed: {}", self.message)
    }
}

impl std::error::Error for StoreError {}

/// A store's answer that needs waiting for (a round trip to a shared store).
pub type PendingVerdict = Pin<Box<dyn Future<Output = Result<Verdict, StoreError>> + Send>>;

/// A store's answer: known now (the in-process store, no allocation), or after a round trip.
#[must_use]
pub enum StoreAnswer {
    /// Decided without waiting.
    Ready(Result<Verdict, StoreError>),
    /// Decided when the future completes.
    Pending(PendingVerdict),
}

impl fmt::Debug for StoreAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready(verdict) => f.debug_tuple("Ready").field(verdict).finish(),
            Self::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// Counters a store may report (the in-process store does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Keys tracked now.
    pub keys: usize,
    /// Keys dropped because their bucket had refilled (nothing is lost).
    pub evicted_idle: u64,
    /// Keys dropped at the key cap while their bucket was not full: that caller got a fresh
    /// burst. Non-zero means the cap is too small for the callers you have.
    pub evicted_active: u64,
}

/// Where rate-limit state lives.
///
/// `key` is opaque (a principal identity or a client address, already prefixed by its kind);
/// a store keeps one bucket per `(quota, key)`. Implementations must apply the quota as a
/// GCRA with [`Quota::unit_interval`] and [`Quota::burst`], so every store agrees.
///
/// ```
/// use mcp_bastion::rate_limit::{Quota, RateLimitConfig, RateLimitStore, StoreAnswer, Verdict};
///
/// let limits = RateLimitConfig::default()
///     .quota("guest", 60, 60, 2)
///     .default_quota("guest")
///     .build()?;
/// let guest = limits.quota("guest").unwrap();
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # rt.block_on(async {
/// let store = limits.store();
/// for _ in 0..2 {
///     assert!(matches!(store.charge(guest, "p:alice", 1), StoreAnswer::Ready(Ok(Verdict::Allowed { .. }))));
/// }
/// assert!(matches!(store.charge(guest, "p:alice", 1), StoreAnswer::Ready(Ok(Verdict::Limited { .. }))));
/// # });
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
pub trait RateLimitStore: fmt::Debug + Send + Sync + 'static {
    /// Spends `cost` units of `quota` for `key` if they are available now.
    fn charge(&self, quota: &Quota, key: &str, cost: u32) -> StoreAnswer;

    /// Whether one unit of `quota` is available for `key` now, spending nothing.
    fn peek(&self, quota: &Quota, key: &str) -> StoreAnswer;

    /// Counters, for metrics (default: none known).
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}
