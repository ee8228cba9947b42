//! [`MemoryStore`]: the in-process [`RateLimitStore`]: governor's GCRA over a bounded,
//! sharded LRU of buckets.
//!
//! Memory is bounded twice: a bucket that has refilled is dropped as soon as it reaches the
//! old end of its shard's LRU (it is indistinguishable from a fresh one, so nothing is lost),
//! and at `max_keys` the least recently used bucket goes, refilled or not. A bucket costs
//! about 80 bytes (a 16-byte slot in an LRU node plus the index), so 1,000,000 keys stay
//! near 80 MB.

use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{NotUntil, RateLimiter};
use lru::LruCache;

use super::quota::Quota;
use super::store::{RateLimitStore, StoreAnswer, StoreError, StoreStats, Verdict};

/// Default most keys tracked at once.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;
/// Refilled buckets dropped per charge, at most (keeps the work per request constant).
const IDLE_SWEEP_PER_CALL: usize = 2;
/// Every this many charges, another shard is swept too ...
const ROUND_ROBIN_EVERY: usize = 16;
/// ... of at most this many refilled buckets.
const ROUND_ROBIN_SWEEP: usize = 16;

/// Governor's clock on Tokio's time, so a paused test clock drives the limits too.
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> Self::Instant {
        tokio::time::Instant::now().into_std()
    }
}

type Limiter = RateLimiter<SlotKey, Buckets, TokioClock, StateInformationMiddleware>;

/// The in-process store (what [`RateLimitConfig::build`](super::RateLimitConfig::build)
/// uses): one governor limiter per quota over shared, bounded buckets.
#[derive(Debug)]
pub(crate) struct MemoryStore {
    /// One limiter per quota, indexed by [`Quota::index`]; all share the buckets.
    limiters: Vec<Limiter>,
    buckets: Buckets,
    hasher: std::hash::RandomState,
}

impl MemoryStore {
    /// A store for `quotas` tracking at most `max_keys` buckets.
    pub(crate) fn new(quotas: &[Quota], max_keys: usize) -> Self {
        let shards = std::thread::available_parallelism()
            .map_or(4, std::num::NonZeroUsize::get)
            .saturating_mul(4)
            .clamp(4, 256)
            .next_power_of_two()
            .min(max_keys.next_power_of_two().max(1));
        let per_shard = max_keys.div_ceil(shards).max(1);
        let buckets = Buckets(Arc::new(Shared {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(LruCache::unbounded_with_hasher(
                        BuildHasherDefault::default(),
                    ))
                })
                .collect(),
            per_shard,
            origin: tokio::time::Instant::now(),
            evicted_idle: AtomicU64::new(0),
            evicted_active: AtomicU64::new(0),
            ticks: AtomicUsize::new(0),
        }));
        let limiters = quotas
            .iter()
            .map(|quota| RateLimiter::new(quota.gcra(), buckets.clone(), TokioClock))
            .collect();
        Self {
            limiters,
            buckets,
            hasher: std::hash::RandomState::new(),
        }
    }

    fn check(&self, quota: &Quota, key: &str, cost: u32, commit: bool) -> StoreAnswer {
        let Some(limiter) = self.limiters.get(quota.index) else {
            return StoreAnswer::Ready(Err(StoreError::new(format!(
                "quota {:?} is not one this store was built for",
                quota.name()
            ))));
        };
        let Some(cost) = NonZeroU32::new(cost) else {
            return StoreAnswer::Ready(Ok(Verdict::unspent(quota)));
        };
        // Governor multiplies the cost before comparing it with the burst: answer first, so
        // a huge cost cannot overflow its arithmetic.
        if cost.get() > quota.burst() {
            return StoreAnswer::Ready(Ok(Verdict::TooCostly));
        }
        // Keyed with a per-process secret: nobody can choose keys that collide.
        let hash = self.hasher.hash_one((quota.index, key));
        let slot = SlotKey {
            hash,
            refill: quota.full_refill(),
            commit,
        };
        let verdict = match limiter.check_key_n(&slot, cost) {
            Ok(Ok(snapshot)) => {
                let remaining = snapshot.remaining_burst_capacity();
                Verdict::Allowed {
                    remaining,
                    reset: quota.unit_interval() * quota.burst().saturating_sub(remaining),
                }
            }
            Ok(Err(not_until)) => Verdict::Limited {
                retry_after: wait(&not_until),
            },
            Err(_) => Verdict::TooCostly,
        };
        StoreAnswer::Ready(Ok(verdict))
    }
}

fn wait(not_until: &NotUntil<std::time::Instant>) -> Duration {
    not_until.wait_time_from(TokioClock.now())
}

impl RateLimitStore for MemoryStore {
    fn charge(&self, quota: &Quota, key: &str, cost: u32) -> StoreAnswer {
        self.check(quota, key, cost, true)
    }

    fn peek(&self, quota: &Quota, key: &str) -> StoreAnswer {
        self.check(quota, key, 1, false)
    }

    fn stats(&self) -> StoreStats {
        let shared = &self.buckets.0;
        StoreStats {
            keys: shared
                .shards
                .iter()
                .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
                .sum(),
            evicted_idle: shared.evicted_idle.load(Ordering::Relaxed),
            evicted_active: shared.evicted_active.load(Ordering::Relaxed),
        }
    }
}

/// Which bucket, how long it takes to refill, and whether this check may change it
/// (`false`: a dry run for [`RateLimitStore::peek`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SlotKey {
    hash: u64,
    refill: Duration,
    commit: bool,
}

/// One bucket: governor's theoretical arrival time, and when the bucket is full again.
#[derive(Debug, Clone, Copy)]
struct Slot {
    tat: u64,
    idle_at: u64,
}

type Shard = LruCache<u64, Slot, BuildHasherDefault<MixHasher>>;

/// The buckets, shared by every quota's limiter.
#[derive(Debug, Clone)]
struct Buckets(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    origin: tokio::time::Instant,
    evicted_idle: AtomicU64,
    evicted_active: AtomicU64,
    /// Charges so far, to pick the next shard to sweep.
    ticks: AtomicUsize,
}

impl Shared {
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Drops up to `most` buckets that have refilled, from the old end of `shard`'s LRU.
    fn sweep(&self, shard: &mut Shard, now: u64, most: usize) {
        for _ in 0..most {
            match shard.peek_lru() {
                Some((_, oldest)) if oldest.idle_at <= now => {
                    shard.pop_lru();
                    self.evicted_idle.fetch_add(1, Ordering::Relaxed);
                }
                _ => break,
            }
        }
    }
}

impl StateStore for Buckets {
    type Key = SlotKey;

    fn measure_and_replace<T, F, E>(&self, key: &SlotKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let shared = &self.0;
        let index = usize::try_from(key.hash).unwrap_or_default() & (shared.shards.len() - 1);
        let mut shard = shared.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = shared.now();
        let refill = u64::try_from(key.refill.as_nanos()).unwrap_or(u64::MAX);
        let value = if let Some(slot) = shard.get_mut(&key.hash) {
            // One lookup for a known key: read, decide, write in place.
            let (value, tat) = f(Some(Nanos::new(slot.tat)))?;
            if key.commit {
                *slot = Slot {
                    tat: tat.as_u64(),
                    idle_at: now.saturating_add(refill),
                };
            }
            value
        } else {
            let (value, tat) = f(None)?;
            if key.commit {
                if shard.len() >= shared.per_shard
                    && let Some((_, evicted)) = shard.pop_lru()
                {
                    let counter = if evicted.idle_at <= now {
                        &shared.evicted_idle
                    } else {
                        &shared.evicted_active
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                let slot = Slot {
                    tat: tat.as_u64(),
                    idle_at: now.saturating_add(refill),
                };
                shard.put(key.hash, slot);
            }
            value
        };
        shared.sweep(&mut shard, now, IDLE_SWEEP_PER_CALL);
        drop(shard);
        // Now and then, a few refilled buckets of some other shard, so keys nobody uses any
        // more leave even when new traffic lands elsewhere.
        let tick = shared.ticks.fetch_add(1, Ordering::Relaxed);
        if tick.is_multiple_of(ROUND_ROBIN_EVERY) {
            let other = (tick / ROUND_ROBIN_EVERY) % shared.shards.len();
            if let Ok(mut other) = shared.shards[other].try_lock() {
                shared.sweep(&mut other, now, ROUND_ROBIN_SWEEP);
            }
        }
        Ok(value)
    }
}

/// The index's hasher: keys are already keyed SipHash values, so this only remixes them
/// (the low bits chose the shard and must not also choose the bucket).
#[derive(Debug, Default, Clone, Copy)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        let x = self.0 ^ (self.0 >> 31);
        x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(quotas: &mut [Quota], max_keys: usize) -> MemoryStore {
        for (index, quota) in quotas.iter_mut().enumerate() {
            quota.index = index;
        }
        MemoryStore::new(quotas, max_keys)
    }

    fn verdict(answer: StoreAnswer) -> Verdict {
        match answer {
            StoreAnswer::Ready(Ok(verdict)) => verdict,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gcra_burst_then_one_per_interval() {
        let mut quotas = [Quota::new("guest", 60, 60, 3).unwrap()];
        let store = store(&mut quotas, 100);
        let guest = &quotas[0];
        for expected in [2, 1, 0] {
            assert!(matches!(
                verdict(store.charge(guest, "a", 1)),
                Verdict::Allowed { remaining, .. } if remaining == expected
            ));
        }
        let Verdict::Limited { retry_after } = verdict(store.charge(guest, "a", 1)) else {
            panic!("over the burst");
        };
        assert!(retry_after <= Duration::from_secs(1) && retry_after > Duration::ZERO);
        // Another key has its own bucket.
        assert!(matches!(
            verdict(store.charge(guest, "b", 1)),
            Verdict::Allowed { .. }
        ));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(
            verdict(store.charge(guest, "a", 1)),
            Verdict::Allowed { remaining: 0, .. }
        ));
        assert_eq!(verdict(store.charge(guest, "a", 4)), Verdict::TooCostly);
        assert_eq!(
            verdict(store.charge(guest, "a", u32::MAX)),
            Verdict::TooCostly
        );
    }

    #[tokio::test(start_paused = true)]
    async fn peek_spends_nothing() {
        let mut quotas = [Quota::new("failed", 60, 60, 1).unwrap()];
        let store = store(&mut quotas, 100);
        let quota = &quotas[0];
        for _ in 0..5 {
            assert!(matches!(
                verdict(store.peek(quota, "a")),
                Verdict::Allowed { .. }
            ));
        }
        assert_eq!(store.stats().keys, 0, "a peek stores nothing");
        assert!(matches!(
            verdict(store.charge(quota, "a", 1)),
            Verdict::Allowed { .. }
        ));
        assert!(matches!(
            verdict(store.peek(quota, "a")),
            Verdict::Limited { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_capped_and_refilled_buckets_leave() {
        let mut quotas = [Quota::new("q", 10, 1, 1).unwrap()];
        let store = store(&mut quotas, 64);
        let quota = &quotas[0];
        for key in 0..1000 {
            let _ = store.charge(quota, &key.to_string(), 1);
        }
        let stats = store.stats();
        assert!(stats.keys <= 64 + store.buckets.0.shards.len(), "{stats:?}");
        assert!(stats.evicted_active > 0, "{stats:?}");
        // Once every bucket has refilled, traffic sweeps them out.
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..200 {
            let _ = store.charge(quota, "busy", 1);
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        assert!(store.stats().keys < 16, "{:?}", store.stats());
    }
}
