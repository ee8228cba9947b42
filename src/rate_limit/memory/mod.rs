//! [`MemoryStore`]: the in-process [`RateLimitStore`]: governor's GCRA over bounded, sharded
//! buckets.
//!
//! Each shard is a hash map of 16-byte buckets plus the order the keys arrived in. Memory is
//! bounded twice: a bucket that has refilled is dropped when a sweep reaches it (it is
//! indistinguishable from a fresh one, so nothing is lost), and a shard at its share of
//! `max_keys` makes room before it takes a new key: a refilled bucket if one of the oldest
//! few is, else the one of them closest to refilled. A bucket costs about 65 bytes (measured:
//! 64 bytes per key with 1,000,000 keys), so 1,000,000 keys stay near 65 MB.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{NotUntil, RateLimiter};

use super::quota::Quota;
use super::store::{RateLimitStore, StoreAnswer, StoreError, StoreStats, Verdict};

/// Default most keys tracked at once.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;
/// Most keys a store may be configured for.
pub(crate) const MAX_KEYS_LIMIT: usize = 1 << 32;
/// A shard's share of `max_keys` gets at least this much slack (in 1/64ths), so an uneven
/// spread of keys over shards does not evict active buckets before the total reaches
/// `max_keys`.
const SHARD_SLACK_64THS: usize = 4;
/// Fewest keys a shard is made for (fewer, and the store has fewer shards).
const MIN_SHARE: usize = 4096;
/// How many of a full shard's oldest keys are looked at to make room.
const EVICTION_CANDIDATES: usize = 8;
/// Every this many calls, a shard sweeps the oldest of its keys if it has refilled.
const SWEEP_EVERY: u32 = 4;

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
    /// One limiter per quota, indexed by [`Quota::index`] (all share the buckets), with the
    /// time its clock started, in nanoseconds after the buckets' origin.
    limiters: Vec<(Limiter, u64)>,
    buckets: Buckets,
    hasher: std::hash::RandomState,
}

impl MemoryStore {
    /// A store for `quotas` tracking about `max_keys` buckets: exactly, with one shard
    /// (fewer than 8,192 keys); else each shard's share has some slack (1/16, or six
    /// standard deviations of the spread when that is more).
    pub(crate) fn new(quotas: &[Quota], max_keys: usize) -> Self {
        let max_keys = max_keys.clamp(1, MAX_KEYS_LIMIT);
        let most = std::thread::available_parallelism()
            .map_or(4, std::num::NonZeroUsize::get)
            .saturating_mul(4)
            .clamp(4, 256);
        // A power of two (the shard is chosen by the hash's low bits), each with a share of
        // at least MIN_SHARE keys so the slack stays small.
        let wanted = (max_keys / MIN_SHARE).clamp(1, most);
        let shards = 1_usize << wanted.ilog2();
        let share = max_keys.div_ceil(shards);
        // Keys spread binomially: six standard deviations (about 6·√share) keep a shard from
        // filling before the whole store does, except with negligible odds.
        let slack = if shards == 1 {
            0
        } else {
            (share * SHARD_SLACK_64THS)
                .div_ceil(64)
                .max(6 * share.isqrt() + 1)
        };
        let per_shard = share + slack;
        let buckets = Buckets(Arc::new(Shared {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
            origin: tokio::time::Instant::now(),
            evicted_idle: AtomicU64::new(0),
            evicted_active: AtomicU64::new(0),
        }));
        let limiters = quotas
            .iter()
            .map(|quota| {
                let limiter = RateLimiter::new(quota.gcra(), buckets.clone(), TokioClock);
                // Governor counts from the moment it was made: read just after, so the
                // offset errs (by nanoseconds) towards a bucket refilling later, never sooner.
                (limiter, buckets.now())
            })
            .collect();
        Self {
            limiters,
            buckets,
            hasher: std::hash::RandomState::new(),
        }
    }

    fn limiter(&self, quota: &Quota) -> Result<&(Limiter, u64), StoreError> {
        self.limiters.get(quota.index).ok_or_else(|| {
            StoreError::new(format!(
                "quota {:?} is not one this store was built for",
                quota.name()
            ))
        })
    }

    fn slot_key(&self, quota: &Quota, key: &str, offset: u64, commit: bool) -> SlotKey {
        // Keyed with a per-process secret: nobody can choose keys that collide.
        SlotKey {
            hash: std::hash::BuildHasher::hash_one(&self.hasher, (quota.index, key)),
            offset,
            commit,
        }
    }

    /// Governor's decision on `cost` units (spent only when `commit`).
    fn check(
        &self,
        quota: &Quota,
        key: &str,
        cost: NonZeroU32,
        commit: bool,
    ) -> Result<Verdict, StoreError> {
        let (limiter, offset) = self.limiter(quota)?;
        // Governor multiplies the cost before comparing it with the burst: answer first, so
        // a huge cost cannot overflow its arithmetic.
        if cost.get() > quota.burst() {
            let (remaining, reset) = self.state(quota, key)?;
            return Ok(Verdict::TooCostly { remaining, reset });
        }
        let slot = self.slot_key(quota, key, *offset, commit);
        Ok(match limiter.check_key_n(&slot, cost) {
            Ok(Ok(snapshot)) => {
                let remaining = snapshot.remaining_burst_capacity();
                Verdict::Allowed {
                    remaining,
                    reset: until_whole(quota, remaining),
                }
            }
            Ok(Err(not_until)) => {
                let retry_after = wait(&not_until);
                // The units that are there now: the cost less those still to come.
                let missing = retry_after
                    .as_nanos()
                    .div_ceil(quota.unit_interval().as_nanos().max(1));
                let remaining = u32::try_from(u128::from(cost.get()).saturating_sub(missing))
                    .unwrap_or(0)
                    .min(cost.get() - 1);
                Verdict::Limited {
                    retry_after,
                    remaining,
                    reset: until_whole(quota, remaining),
                }
            }
            // Unreachable after the burst check above; answered the same way.
            Err(_) => {
                let (remaining, reset) = self.state(quota, key)?;
                Verdict::TooCostly { remaining, reset }
            }
        })
    }

    /// Units available now and the time until the whole burst is back, spending nothing.
    fn state(&self, quota: &Quota, key: &str) -> Result<(u32, Duration), StoreError> {
        let remaining = match self.check(quota, key, NonZeroU32::MIN, false)? {
            // The dry run counted one unit.
            Verdict::Allowed { remaining, .. } => remaining + 1,
            _ => 0,
        };
        Ok((remaining, until_whole(quota, remaining)))
    }
}

/// The time until `quota`'s whole burst is back when `remaining` units are left (rounded up
/// to a whole unit).
fn until_whole(quota: &Quota, remaining: u32) -> Duration {
    quota.unit_interval() * quota.burst().saturating_sub(remaining)
}

fn wait(not_until: &NotUntil<std::time::Instant>) -> Duration {
    not_until.wait_time_from(TokioClock.now())
}

impl RateLimitStore for MemoryStore {
    fn charge(&self, quota: &Quota, key: &str, cost: u32) -> StoreAnswer {
        StoreAnswer::Ready(match NonZeroU32::new(cost) {
            Some(cost) => self.check(quota, key, cost, true),
            // Nothing to spend: the bucket as it is.
            None => self
                .state(quota, key)
                .map(|(remaining, reset)| Verdict::Allowed { remaining, reset }),
        })
    }

    fn peek(&self, quota: &Quota, key: &str) -> StoreAnswer {
        StoreAnswer::Ready(self.check(quota, key, NonZeroU32::MIN, false))
    }

    fn refund(&self, quota: &Quota, key: &str, cost: u32) -> StoreAnswer<()> {
        let result = self.limiter(quota).map(|(_, offset)| {
            let slot = self.slot_key(quota, key, *offset, true);
            let units = quota.unit_interval() * cost.min(quota.burst());
            self.buckets.refund(slot.hash, units);
        });
        StoreAnswer::Ready(result)
    }

    fn stats(&self) -> StoreStats {
        let shared = &self.buckets.0;
        StoreStats {
            keys: shared
                .shards
                .iter()
                .map(|shard| {
                    shard
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .slots
                        .len()
                })
                .sum(),
            evicted_idle: shared.evicted_idle.load(Ordering::Relaxed),
            evicted_active: shared.evicted_active.load(Ordering::Relaxed),
        }
    }
}

/// Which bucket, when its limiter's clock started (after the buckets' origin), and whether
/// this check may change it (`false`: a dry run for [`RateLimitStore::peek`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SlotKey {
    hash: u64,
    offset: u64,
    commit: bool,
}

/// One bucket: governor's theoretical arrival time (on its limiter's clock: the bucket is
/// full again then), and the same moment on the buckets' clock.
#[derive(Debug, Clone, Copy)]
struct Slot {
    tat: u64,
    idle_at: u64,
}

/// One shard: the buckets, and their keys in the order they arrived (each key once).
#[derive(Debug, Default)]
struct Shard {
    slots: HashMap<u64, Slot, BuildHasherDefault<MixHasher>>,
    arrivals: VecDeque<u64>,
    calls: u32,
}

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
}

impl Buckets {
    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, Shard> {
        let shards = &self.0.shards;
        let index = usize::try_from(hash).unwrap_or_default() & (shards.len() - 1);
        shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.0.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn refund(&self, hash: u64, units: Duration) {
        let units = u64::try_from(units.as_nanos()).unwrap_or(u64::MAX);
        if let Some(slot) = self.shard(hash).slots.get_mut(&hash) {
            slot.tat = slot.tat.saturating_sub(units);
            slot.idle_at = slot.idle_at.saturating_sub(units);
        }
    }
}

impl Shard {
    /// Drops the oldest key if its bucket has refilled (else moves it to the back, so a
    /// busy key does not stop the sweep).
    fn sweep(&mut self, now: u64, shared: &Shared) {
        let Some(oldest) = self.arrivals.pop_front() else {
            return;
        };
        match self.slots.get(&oldest) {
            Some(slot) if slot.idle_at > now => self.arrivals.push_back(oldest),
            Some(_) => {
                self.slots.remove(&oldest);
                shared.evicted_idle.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
    }

    /// Room for one more key: a refilled bucket among the oldest few, else the one of them
    /// closest to refilled, the one that loses least (its caller gets a fresh burst:
    /// counted as an active eviction). A lockout, far from refilled, stays.
    fn make_room(&mut self, now: u64, shared: &Shared) {
        let mut candidates = [0_u64; EVICTION_CANDIDATES];
        let mut taken = 0;
        while taken < EVICTION_CANDIDATES
            && let Some(key) = self.arrivals.pop_front()
        {
            match self.slots.get(&key) {
                Some(slot) if slot.idle_at <= now => {
                    self.slots.remove(&key);
                    shared.evicted_idle.fetch_add(1, Ordering::Relaxed);
                    self.arrivals.extend(&candidates[..taken]);
                    return;
                }
                Some(_) => {
                    candidates[taken] = key;
                    taken += 1;
                }
                None => {}
            }
        }
        let victim = candidates[..taken]
            .iter()
            .copied()
            .min_by_key(|key| self.slots.get(key).map_or(0, |slot| slot.idle_at));
        for &key in &candidates[..taken] {
            if Some(key) == victim {
                self.slots.remove(&key);
                shared.evicted_active.fetch_add(1, Ordering::Relaxed);
            } else {
                self.arrivals.push_back(key);
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
        let shared = &*self.0;
        let now = self.now();
        let mut shard = self.shard(key.hash);
        let fresh = |tat: Nanos| Slot {
            tat: tat.as_u64(),
            idle_at: tat.as_u64().saturating_add(key.offset),
        };
        // A refusal (`Err`) changes nothing, but the housekeeping below runs all the same.
        let result = if let Some(slot) = shard.slots.get_mut(&key.hash) {
            // One lookup for a known key: read, decide, write in place.
            f(Some(Nanos::new(slot.tat))).map(|(value, tat)| {
                if key.commit {
                    *slot = fresh(tat);
                }
                value
            })
        } else {
            f(None).map(|(value, tat)| {
                if key.commit {
                    if shard.slots.len() >= shared.per_shard {
                        shard.make_room(now, shared);
                    }
                    shard.slots.insert(key.hash, fresh(tat));
                    shard.arrivals.push_back(key.hash);
                }
                value
            })
        };
        shard.calls = shard.calls.wrapping_add(1);
        let calls = shard.calls;
        if calls.is_multiple_of(SWEEP_EVERY) {
            shard.sweep(now, shared);
        }
        drop(shard);
        // Now and then another shard too (each in turn), so keys nobody uses any more leave
        // even when the traffic lands elsewhere.
        if calls.is_multiple_of(SWEEP_EVERY * 4) {
            let turn = usize::try_from(calls / (SWEEP_EVERY * 4)).unwrap_or_default();
            let index = usize::try_from(key.hash)
                .unwrap_or_default()
                .wrapping_add(turn)
                & (shared.shards.len() - 1);
            if let Ok(mut other) = shared.shards[index].try_lock() {
                for _ in 0..4 {
                    other.sweep(now, shared);
                }
            }
        }
        result
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
mod tests;
