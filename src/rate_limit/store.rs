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
    /// Not now: the units asked for are not available yet (nothing was spent).
    Limited {
        /// Time until the units asked for are available.
        retry_after: Duration,
        /// Units the caller may spend at once now (fewer than asked for).
        remaining: u32,
        /// Time until the whole burst is back.
        reset: Duration,
    },
    /// More units than the quota's burst: this request can never pass (nothing was spent).
    TooCostly {
        /// Units the caller may spend at once now.
        remaining: u32,
        /// Time until the whole burst is back.
        reset: Duration,
    },
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
pub type Pending<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// A pending [`Verdict`].
pub type PendingVerdict = Pending<Verdict>;

/// A store's answer: known now (the in-process store, no allocation), or after a round trip.
#[must_use]
pub enum StoreAnswer<T = Verdict> {
    /// Decided without waiting.
    Ready(Result<T, StoreError>),
    /// Decided when the future completes.
    Pending(Pending<T>),
}

impl<T: Send + 'static> StoreAnswer<T> {
    /// Waits for the answer if it is not known yet.
    pub async fn resolve(self) -> Result<T, StoreError> {
        match self {
            Self::Ready(answer) => answer,
            Self::Pending(answer) => answer.await,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for StoreAnswer<T> {
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

    /// Gives back `cost` units charged earlier to `key` (a reservation that was not needed);
    /// never more than the burst.
    fn refund(&self, quota: &Quota, key: &str, cost: u32) -> StoreAnswer<()>;

    /// Counters, for metrics (default: none known).
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}
