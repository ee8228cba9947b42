//! [`Store`]: the entries, least recently used out first, bounded by count and bytes.

use std::collections::HashMap;
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
    pub(crate) encoded: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

struct Inner {
    /// Each entry with its cost and the caller whose request stored it.
    entries: LruCache<CacheKey, Stored>,
    bytes: usize,
    /// Entries each caller's requests stored, for the per-caller share.
    by_caller: HashMap<String, usize>,
}

struct Stored {
    entry: Arc<Entry>,
    cost: usize,
    caller: String,
}

impl Inner {
    /// Forgets a removed entry's cost and its caller's count.
    fn forget(&mut self, stored: &Stored) {
        self.bytes -= stored.cost;
        if let Some(count) = self.by_caller.get_mut(&stored.caller) {
            *count -= 1;
            if *count == 0 {
                self.by_caller.remove(&stored.caller);
            }
        }
    }
}

/// Longest key (what was asked) worth storing: selectors and cursors are short; longer keys
/// only serve to flood the cache.
const MAX_KEY_BYTES: usize = 1024;

/// The stored entries. Every operation takes the lock briefly; no I/O under it.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    max_bytes: usize,
    /// Most entries one caller's requests may hold: no one caller can push everyone
    /// else's entries out.
    max_per_caller: usize,
    /// Bumped by every invalidation: a fetch that started before one is not stored.
    generation: AtomicU64,
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
    pub(crate) fn new(max_entries: NonZeroUsize, max_bytes: usize, max_per_caller: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: LruCache::new(max_entries),
                bytes: 0,
                by_caller: HashMap::new(),
            }),
            max_bytes,
            max_per_caller,
            generation: AtomicU64::new(0),
            counters: Counters::default(),
        }
    }

    /// The invalidation generation now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
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
            .map(|stored| Arc::clone(&stored.entry))
    }

    /// Stores `entry` under `key` for `caller`, evicting the least recently used entries until
    /// the count and the bytes fit. Not stored (`false`): an entry larger than the whole
    /// budget, a key too long to be a real request, a caller over its share, or an
    /// invalidation since `generation`.
    pub(crate) fn insert(
        &self,
        key: CacheKey,
        entry: Arc<Entry>,
        caller: &str,
        generation: u64,
    ) -> bool {
        let cost = entry.cost(key.what.len() + key.owner.as_ref().map_or(0, String::len));
        if cost > self.max_bytes || key.what.len() > MAX_KEY_BYTES {
            return false;
        }
        let mut inner = self.lock();
        if self.generation() != generation {
            return false;
        }
        if let Some(old) = inner.entries.pop(&key) {
            inner.forget(&old);
        }
        if inner.by_caller.get(caller).copied().unwrap_or(0) >= self.max_per_caller {
            return false;
        }
        while inner.bytes + cost > self.max_bytes {
            let Some((_, freed)) = inner.entries.pop_lru() else {
                break;
            };
            inner.forget(&freed);
            Counters::add(&self.counters.evictions);
        }
        let stored = Stored {
            entry,
            cost,
            caller: caller.to_owned(),
        };
        if let Some((_, freed)) = inner.entries.push(key, stored) {
            // The count limit pushed the least recently used entry out.
            inner.forget(&freed);
            Counters::add(&self.counters.evictions);
        }
        inner.bytes += cost;
        *inner.by_caller.entry(caller.to_owned()).or_default() += 1;
        true
    }

    /// Charges `extra` more bytes to the entry under `key` (an encoded variant kept with it),
    /// if it is still `entry`, evicting other entries least recently used first until the
    /// bytes fit. `false` (nothing charged): the entry is gone or replaced, or it would
    /// outgrow the whole budget.
    #[cfg(feature = "compression")]
    pub(crate) fn grow(&self, key: &CacheKey, entry: &Arc<Entry>, extra: usize) -> bool {
        let mut inner = self.lock();
        // `get` makes it the most recently used: the evictions below take others first.
        let Some(stored) = inner.entries.get(key) else {
            return false;
        };
        if !Arc::ptr_eq(&stored.entry, entry) || stored.cost + extra > self.max_bytes {
            return false;
        }
        while inner.bytes + extra > self.max_bytes {
            let Some((freed_key, freed)) = inner.entries.pop_lru() else {
                break;
            };
            inner.forget(&freed);
            Counters::add(&self.counters.evictions);
            if &freed_key == key {
                return false;
            }
        }
        let Some(stored) = inner.entries.peek_mut(key) else {
            return false;
        };
        stored.cost += extra;
        inner.bytes += extra;
        true
    }

    /// Drops the entry under `key` if it is still `entry`.
    pub(crate) fn remove_entry(&self, key: &CacheKey, entry: &Arc<Entry>) {
        let mut inner = self.lock();
        let same = inner
            .entries
            .peek(key)
            .is_some_and(|stored| Arc::ptr_eq(&stored.entry, entry));
        if same && let Some(stored) = inner.entries.pop(key) {
            inner.forget(&stored);
        }
    }

    /// Drops every entry `doomed` picks, in one pass under the lock; how many.
    pub(crate) fn remove_where(&self, doomed: impl Fn(&Entry) -> bool) -> usize {
        let mut inner = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        let keys: Vec<CacheKey> = inner
            .entries
            .iter()
            .filter(|(_, stored)| doomed(&stored.entry))
            .map(|(key, _)| key.clone())
            .collect();
        for key in &keys {
            if let Some(stored) = inner.entries.pop(key) {
                inner.forget(&stored);
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
