//! [`CacheHandle`]: invalidation and counters, usable from any thread.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::layer::CacheShared;
use super::webhook::{InvalidationRequest, InvalidationWebhook};
use crate::error::ConfigError;

/// Invalidates entries and reads the counters of a [`ContextCacheLayer`](super::ContextCacheLayer);
/// cheap to clone, usable from any thread.
///
/// Invalidating a context also drops every listing, since a listing may name it.
///
/// ```
/// use mcp_bastion::cache::ContextCacheLayer;
///
/// let cache = ContextCacheLayer::builder().build()?;
/// let handle = cache.handle();
/// assert_eq!(handle.invalidate("project-alpha/dependency-graph"), 0);
/// assert_eq!(handle.stats().entries, 0);
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CacheHandle {
    shared: Arc<CacheShared>,
}

/// A snapshot of a cache's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Answers served from a fresh entry.
    pub hits: u64,
    /// Requests that found no usable entry.
    pub misses: u64,
    /// Answers served from a stale entry (revalidating, or the source failed).
    pub stale: u64,
    /// Entries pushed out by the count or byte limit.
    pub evictions: u64,
    /// Misses that waited for another request's fetch instead of asking the source.
    pub joins: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes held now (bodies and kept headers).
    pub bytes: u64,
}

impl CacheHandle {
    pub(crate) fn new(shared: Arc<CacheShared>) -> Self {
        Self { shared }
    }

    /// Drops the entries of context `id` (every principal's, every projection) and every
    /// listing; how many entries were dropped.
    pub fn invalidate(&self, id: &str) -> usize {
        self.shared
            .store
            .remove_where(|_, entry| entry.context_id.as_deref().is_none_or(|c| c == id))
    }

    /// Drops the entries of every context under `prefix` (on a segment boundary: `a` covers
    /// `a` and `a/b`, not `ab`) and every listing.
    pub fn invalidate_prefix(&self, prefix: &str) -> usize {
        let prefix = prefix.trim_end_matches('/');
        self.shared.store.remove_where(|_, entry| {
            entry.context_id.as_deref().is_none_or(|id| {
                prefix.is_empty()
                    || id == prefix
                    || id
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        })
    }

    /// Drops everything.
    pub fn clear(&self) -> usize {
        self.shared.store.remove_where(|_, _| true)
    }

    /// The signed invalidation webhook for this cache: each id and each non-empty prefix of
    /// a verified request is invalidated; it answers how many entries went.
    pub fn webhook(&self, secret: impl AsRef<[u8]>) -> Result<InvalidationWebhook, ConfigError> {
        let handle = self.clone();
        InvalidationWebhook::new(secret, move |request: &InvalidationRequest| {
            let by_id: usize = request.ids.iter().map(|id| handle.invalidate(id)).sum();
            let by_prefix: usize = request
                .prefixes
                .iter()
                .filter(|prefix| !prefix.is_empty())
                .map(|prefix| handle.invalidate_prefix(prefix))
                .sum();
            by_id + by_prefix
        })
    }

    /// The counters now.
    pub fn stats(&self) -> CacheStats {
        let counters = &self.shared.store.counters;
        let (entries, bytes) = self.shared.store.size();
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        CacheStats {
            hits: read(&counters.hits),
            misses: read(&counters.misses),
            stale: read(&counters.stale),
            evictions: read(&counters.evictions),
            joins: read(&counters.joins),
            entries: entries as u64,
            bytes: bytes as u64,
        }
    }
}
