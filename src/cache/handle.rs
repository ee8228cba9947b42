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
    /// Encoded variants built (a stored body compressed once in one coding; feature
    /// `compression`).
    pub encoded: u64,
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
        self.invalidate_all(&[id], &[])
    }

    /// Drops the entries of every context under `prefix` (on a segment boundary: `a` covers
    /// `a` and `a/b`, not `ab`) and every listing. A prefix that names no segment (`""`,
    /// `"/"`) drops nothing: [`clear`](Self::clear) drops everything.
    pub fn invalidate_prefix(&self, prefix: &str) -> usize {
        self.invalidate_all(&[], &[prefix])
    }

    /// Drops the entries of these contexts and of the contexts under these prefixes, and
    /// every listing, in one pass.
    fn invalidate_all(&self, ids: &[&str], prefixes: &[&str]) -> usize {
        let prefixes: Vec<&str> = prefixes
            .iter()
            .map(|prefix| prefix.trim_end_matches('/'))
            .filter(|prefix| !prefix.trim_start_matches('/').is_empty())
            .collect();
        if ids.is_empty() && prefixes.is_empty() {
            return 0;
        }
        let under = |id: &str, prefix: &str| {
            id == prefix
                || id
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        self.shared.store.remove_where(|entry| {
            entry.context_id.as_deref().is_none_or(|id| {
                ids.contains(&id) || prefixes.iter().any(|prefix| under(id, prefix))
            })
        })
    }

    /// Drops everything.
    pub fn clear(&self) -> usize {
        self.shared.store.remove_where(|_| true)
    }

    /// The signed invalidation webhook for this cache: the ids and prefixes of a verified
    /// request are invalidated in one pass (as [`invalidate`](Self::invalidate) and
    /// [`invalidate_prefix`](Self::invalidate_prefix)); it answers how many entries went.
    pub fn webhook(&self, secret: impl AsRef<[u8]>) -> Result<InvalidationWebhook, ConfigError> {
        let handle = self.clone();
        InvalidationWebhook::new(secret, move |request: &InvalidationRequest| {
            let ids: Vec<&str> = request.ids.iter().map(String::as_str).collect();
            let prefixes: Vec<&str> = request.prefixes.iter().map(String::as_str).collect();
            handle.invalidate_all(&ids, &prefixes)
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
            encoded: read(&counters.encoded),
            entries: entries as u64,
            bytes: bytes as u64,
        }
    }
}
