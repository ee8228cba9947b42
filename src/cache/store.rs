//! [`Store`]: the entries, least recently used out first, bounded by count and bytes.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lru::LruCache;

use super::entry::Entry;
use super::key::CacheKey;

/// Counters of a cache, read through [`CacheHandle::stats`](super::CacheHandle::stats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) stale: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) joins: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

struct Inner {
    entries: LruCache<CacheKey, (Arc<Entry>, usize)>,
    bytes: usize,
}

/// The stored entries. Every operation takes the lock briefly; no I/O under it.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    max_bytes: usize,
    pub(crate) counters: Counters,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Store")
            .field("entries", &inner.entries.len())
            .field("bytes", &inner.bytes)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub(crate) fn new(max_entries: NonZeroUsize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: LruCache::new(max_entries),
                bytes: 0,
            }),
            max_bytes,
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic under the lock cannot leave the map and the byte count apart: every
        // change updates both before anything that could panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry under `key`, marked recently used.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        self.lock()
            .entries
            .get(key)
            .map(|(entry, _)| Arc::clone(entry))
    }

    /// Stores `entry` under `key`, evicting the least recently used entries until the count
    /// and the bytes fit. An entry larger than the whole budget is not stored.
    pub(crate) fn insert(&self, key: CacheKey, entry: Arc<Entry>) -> bool {
        let cost = entry.cost(key.what.len() + key.owner.as_ref().map_or(0, String::len));
        if cost > self.max_bytes {
            return false;
        }
        let mut inner = self.lock();
        if let Some((_, old)) = inner.entries.pop(&key) {
            inner.bytes -= old;
        }
        while inner.bytes + cost > self.max_bytes {
            let Some((_, (_, freed))) = inner.entries.pop_lru() else {
                break;
            };
            inner.bytes -= freed;
            Counters::add(&self.counters.evictions);
        }
        if let Some((_, (_, freed))) = inner.entries.push(key, (entry, cost)) {
            // The count limit pushed the least recently used entry out.
            inner.bytes -= freed;
            Counters::add(&self.counters.evictions);
        }
        inner.bytes += cost;
        true
    }

    /// Drops the entry under `key`.
    pub(crate) fn remove(&self, key: &CacheKey) {
        let mut inner = self.lock();
        if let Some((_, cost)) = inner.entries.pop(key) {
            inner.bytes -= cost;
        }
    }

    /// Drops every entry `doomed` picks; how many.
    pub(crate) fn remove_where(&self, doomed: impl Fn(&CacheKey, &Entry) -> bool) -> usize {
        let mut inner = self.lock();
        let keys: Vec<CacheKey> = inner
            .entries
            .iter()
            .filter(|(key, (entry, _))| doomed(key, entry))
            .map(|(key, _)| key.clone())
            .collect();
        for key in &keys {
            if let Some((_, cost)) = inner.entries.pop(key) {
                inner.bytes -= cost;
            }
        }
        keys.len()
    }

    /// Entries and bytes held now.
    pub(crate) fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes)
    }
}
