//! Rate-limit configuration: `RateLimitConfig::from_toml` and `build` on any text. No panics;
//! a configuration that builds picks a quota for every principal the same way twice, its
//! quotas advertise a well-formed `RateLimit-Policy`, and charging them (any cost, any key)
//! answers without panicking: never more units left than the burst, never a zero wait.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_bastion::principal::{AuthMethod, Principal};
use mcp_bastion::rate_limit::{RateLimitConfig, StoreAnswer, Verdict};

fn principals() -> Vec<Principal> {
    vec![
        Principal::anonymous(),
        Principal::new("dev", AuthMethod::ApiKey)
            .with_role("developer")
            .with_attribute("team", "search"),
        Principal::new("admin", AuthMethod::Jwt).with_role("admin"),
        Principal::new("guest", AuthMethod::ApiKey).with_role("guest"),
        Principal::new("carol", AuthMethod::MutualTls),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 4096 {
        return;
    }
    let Ok(config) = RateLimitConfig::from_toml(text) else {
        return;
    };
    let Ok(limits) = config.max_keys(1024).build() else {
        return;
    };
    for principal in &principals() {
        let first = limits.quota_of(principal).map(|q| q.name().to_owned());
        let second = limits.quota_of(principal).map(|q| q.name().to_owned());
        assert_eq!(first, second);
        let Some(quota) = limits.quota_of(principal) else {
            continue;
        };
        let policy = quota.policy_header().to_str().expect("ASCII field");
        assert!(
            policy.starts_with(&format!("\"{}\";q=", quota.name())),
            "{policy}"
        );
        for cost in [
            0,
            1,
            2,
            quota.burst(),
            quota.burst().saturating_add(1),
            u32::MAX,
        ] {
            match limits.store().charge(quota, &principal.identity(), cost) {
                StoreAnswer::Ready(Ok(Verdict::Allowed { remaining, .. })) => {
                    assert!(
                        remaining <= quota.burst(),
                        "{remaining} > {}",
                        quota.burst()
                    );
                }
                StoreAnswer::Ready(Ok(Verdict::Limited {
                    retry_after,
                    remaining,
                    ..
                })) => {
                    assert!(!retry_after.is_zero(), "limited with no wait");
                    assert!(remaining < cost, "limited with {remaining} of {cost} there");
                }
                StoreAnswer::Ready(Ok(Verdict::TooCostly { remaining, .. })) => {
                    assert!(
                        cost > quota.burst(),
                        "cost {cost} fits burst {}",
                        quota.burst()
                    );
                    assert!(remaining <= quota.burst());
                }
                other => panic!("{other:?}"),
            }
            // A refund never leaves more than the burst.
            let refunded = limits.store().refund(quota, &principal.identity(), cost);
            assert!(
                matches!(refunded, StoreAnswer::Ready(Ok(()))),
                "{refunded:?}"
            );
            if let StoreAnswer::Ready(Ok(Verdict::Allowed { remaining, .. })) =
                limits.store().peek(quota, &principal.identity())
            {
                assert!(remaining < quota.burst(), "a peek spends one: {remaining}");
            }
        }
    }
});
