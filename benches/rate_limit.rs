//! Rate-limit check cost as the number of tracked keys grows: 1, 10,000 and 1,000,000
//! distinct keys already in the store, every measured check a hit on one of them.
//!
//! - `rate_limit_store/charge/N`: `limits.store().charge(quota, key, 1)` alone (the
//!   in-process `MemoryStore`: keyed hash, shard lock, bucket lookup, GCRA update).
//! - `rate_limit_layer/allowed/N`: `RateLimitLayer` in front of a service answering an empty
//!   200 at once, for `GET /context/docs/a` with a `Principal` already in the extensions
//!   (classification, quota choice, key formatting, charge, `RateLimit` header fields).
//!
//! The quota (10^9 units a day, burst 10^9) never refuses; every key is prefilled with
//! 10^7 units spent (its bucket refills in about 15 minutes), so no bucket leaves the store
//! as refilled during a run; `max_keys` is twice N, so none is evicted at the cap either. Keys are visited with a large stride coprime with N: consecutive checks touch
//! unrelated buckets (a cache-unfriendly order for large N). Requests and keys are built
//! outside the timed region (`iter_batched`). The flat goal: the 1,000,000-key time within
//! ±20% of the 1-key time.
//!
//! ```text
//! cargo bench --bench rate_limit
//! cargo bench --bench rate_limit -- --warm-up-time 1 --measurement-time 3
//! ```

use std::convert::Infallible;
use std::fmt::Write as _;

use bytes::Bytes;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use mcp_bastion::mcp::RequestBody;
use mcp_bastion::principal::{AuthMethod, Principal};
use mcp_bastion::rate_limit::{RateLimitConfig, RateLimitLayer, RateLimits, StoreAnswer, Verdict};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};

type Body = Full<Bytes>;

/// Tracked keys before measuring.
const SIZES: [usize; 3] = [1, 10_000, 1_000_000];
/// Step between consecutive keys: coprime with every size (odd, not a multiple of 5) and
/// large, so consecutive checks land on buckets inserted far apart.
const STRIDE: usize = 618_033;
/// The quota every key is charged: never refuses, never refills during a run.
const QUOTA: &str = "bench";
/// Units each key spends when prefilled: its bucket stays tracked for about 15 minutes.
const PREFILL_COST: u32 = 10_000_000;
/// Inputs built per timed batch: few enough to stay in cache, many enough that the batch's
/// own timing is negligible.
const BATCH: u64 = 1024;

/// Limits with one generous quota for every principal, `max_keys` twice `n`.
fn limits(n: usize) -> RateLimits {
    RateLimitConfig::default()
        .quota(QUOTA, 1_000_000_000, 86_400, 1_000_000_000)
        .default_quota(QUOTA)
        .max_keys(n.saturating_mul(2))
        .build()
        .expect("valid limits")
}

/// The store key the rate-limit layer uses for principal `user-{i}` (an API key).
fn key(buffer: &mut String, i: usize) {
    buffer.clear();
    write!(buffer, "ApiKey:user-{i}").expect("writing to a String");
}

/// Limits whose store already tracks `n` keys (each charged once).
fn prefilled(n: usize) -> RateLimits {
    let limits = limits(n);
    let quota = limits.quota(QUOTA).expect("the bench quota");
    let store = limits.store();
    let mut buffer = String::new();
    for i in 0..n {
        key(&mut buffer, i);
        assert!(
            allowed(&store.charge(quota, &buffer, PREFILL_COST)),
            "prefill refused"
        );
    }
    let stats = limits.stats();
    assert_eq!(stats.keys, n, "{stats:?}");
    assert_eq!(stats.evicted_active, 0, "{stats:?}");
    limits
}

fn allowed(answer: &StoreAnswer) -> bool {
    matches!(answer, StoreAnswer::Ready(Ok(Verdict::Allowed { .. })))
}

/// Indices `0, STRIDE, 2·STRIDE, ...` modulo `n`: every key once per `n` steps.
fn cycle(n: usize) -> impl FnMut() -> usize {
    let step = STRIDE % n;
    let mut next = 0;
    move || {
        let current = next;
        next = (next + step) % n;
        current
    }
}

fn store_alone(c: &mut Criterion) {
    let runtime = Runtime::new().expect("a runtime");
    // The store reads Tokio's clock.
    let _context = runtime.enter();
    let mut group = c.benchmark_group("rate_limit_store");
    for n in SIZES {
        // Built on first use: a benchmark filtered out costs no prefill.
        let mut fixture: Option<RateLimits> = None;
        let mut next = cycle(n);
        group.bench_with_input(BenchmarkId::new("charge", n), &n, |b, &n| {
            let limits = fixture.get_or_insert_with(|| prefilled(n));
            let quota = limits.quota(QUOTA).expect("the bench quota");
            let store = limits.store();
            b.iter_batched(
                || {
                    let mut buffer = String::with_capacity(32);
                    key(&mut buffer, next());
                    buffer
                },
                |key| {
                    let answer = store.charge(quota, &key, 1);
                    assert!(allowed(&answer), "refused");
                    (answer, key)
                },
                BatchSize::NumIterations(BATCH),
            );
        });
        if let Some(limits) = fixture {
            assert_eq!(limits.stats().keys, n, "no key left during the run");
        }
    }
    group.finish();
}

fn request(i: usize) -> Request<Body> {
    let mut request = Request::get("/context/docs/a")
        .body(Body::default())
        .expect("a request");
    request
        .extensions_mut()
        .insert(Principal::new(format!("user-{i}"), AuthMethod::ApiKey).with_role("reader"));
    request
}

fn layer_in_front(c: &mut Criterion) {
    let runtime = Runtime::new().expect("a runtime");
    let _context = runtime.enter();
    let mut group = c.benchmark_group("rate_limit_layer");
    for n in SIZES {
        let mut fixture = None;
        let mut next = cycle(n);
        group.bench_with_input(BenchmarkId::new("allowed", n), &n, |b, &n| {
            let (_, service) = fixture.get_or_insert_with(|| {
                let limits = prefilled(n);
                let inner = tower::service_fn(|_request: Request<RequestBody<Body>>| async {
                    Ok::<_, Infallible>(Response::new(Body::default()))
                });
                let service = RateLimitLayer::new(&limits).layer(inner);
                (limits, service)
            });
            b.iter_batched(
                || request(next()),
                |request| {
                    let ready = service.ready().now_or_never();
                    assert!(matches!(ready, Some(Ok(_))), "the inner service is ready");
                    let response = service
                        .call(request)
                        .now_or_never()
                        .expect("answered without waiting")
                        .expect("infallible");
                    assert_eq!(response.status(), StatusCode::OK);
                    response
                },
                BatchSize::NumIterations(BATCH),
            );
        });
        if let Some((limits, _)) = fixture {
            assert_eq!(limits.stats().keys, n, "every principal was a tracked key");
        }
    }
    group.finish();
}

criterion_group!(benches, store_alone, layer_in_front);
criterion_main!(benches);
