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
    let Verdict::Limited {
        retry_after,
        remaining: 0,
        reset,
    } = verdict(store.charge(guest, "a", 1))
    else {
        panic!("over the burst");
    };
    assert_eq!(reset, Duration::from_secs(3));
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
    for cost in [4, u32::MAX] {
        assert_eq!(
            verdict(store.charge(guest, "a", cost)),
            Verdict::TooCostly {
                remaining: 0,
                reset: Duration::from_secs(3)
            }
        );
    }
    // Two units asked with one there: refused, and the one is reported.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(matches!(
        verdict(store.charge(guest, "a", 2)),
        Verdict::Limited { remaining: 1, .. }
    ));
    // A refund gives the units back.
    assert!(matches!(
        verdict(store.charge(guest, "a", 1)),
        Verdict::Allowed { remaining: 0, .. }
    ));
    assert!(matches!(
        store.refund(guest, "a", 2),
        StoreAnswer::Ready(Ok(()))
    ));
    assert!(matches!(
        verdict(store.charge(guest, "a", 2)),
        Verdict::Allowed { remaining: 0, .. }
    ));
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
    assert_eq!(stats.keys, 64, "a small store's cap is exact: {stats:?}");
    assert!(stats.evicted_active > 0, "{stats:?}");
    // Once every bucket has refilled, traffic sweeps them out.
    tokio::time::advance(Duration::from_secs(1)).await;
    for _ in 0..2000 {
        let _ = store.charge(quota, "busy", 1);
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    assert!(store.stats().keys < 4, "{:?}", store.stats());
}

#[tokio::test(start_paused = true)]
async fn at_the_cap_a_refilled_bucket_goes_before_an_active_one() {
    let mut quotas = [
        Quota::new("q", 1, 60, 1).unwrap(),
        Quota::new("fast", 1000, 1, 1).unwrap(),
    ];
    let store = store(&mut quotas, 4);
    let (slow, fast) = (&quotas[0], &quotas[1]);
    // A locked-out key first, then keys that refill within a millisecond.
    let _ = store.charge(slow, "locked", 1);
    for key in 0..200 {
        let _ = store.charge(fast, &key.to_string(), 1);
        tokio::time::advance(Duration::from_millis(2)).await;
    }
    assert!(
        matches!(
            verdict(store.charge(slow, "locked", 1)),
            Verdict::Limited { .. }
        ),
        "churn of refilled keys did not lift the lockout: {:?}",
        store.stats()
    );
    assert_eq!(store.stats().evicted_active, 0, "{:?}", store.stats());
}

#[tokio::test(start_paused = true)]
async fn max_keys_distinct_keys_fit_without_active_evictions() {
    let mut quotas = [Quota::new("q", 60, 60, 10).unwrap()];
    let store = store(&mut quotas, 20_000);
    for key in 0..20_000 {
        let _ = store.charge(&quotas[0], &key.to_string(), 1);
    }
    let stats = store.stats();
    assert_eq!((stats.keys, stats.evicted_active), (20_000, 0), "{stats:?}");
}
