//! Policy loading: `Policy::from_toml` on any text. No panics; a policy that loads decides
//! every (principal, action, target) without panicking, the same way twice and the same way
//! after loading the text again; an empty policy denies everything; an allow names its rule.
//!
//! The targets tried are a fixed set plus every quoted string of the input, so the patterns
//! the fuzzer writes are also tried as ids, URIs, names and paths.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use mcp_bastion::policy::{Action, Decision, Effect, Policy, RequestAttributes, Target};
use mcp_bastion::principal::{AuthMethod, Principal};

const FIXED_TARGETS: [&str; 8] = [
    "project-alpha/dependency-graph",
    "public-docs/getting-started",
    "secret/keys",
    "a/b/c/d/e/f/g/h",
    "ctx://project-alpha/x",
    "/pkg.Svc/Get",
    "search",
    "x",
];
const ACTIONS: [Action; 5] = [
    Action::Read,
    Action::List,
    Action::Call,
    Action::Write,
    Action::Admin,
];

fn principals() -> Vec<Principal> {
    vec![
        Principal::anonymous(),
        Principal::new("dev", AuthMethod::ApiKey)
            .with_role("developer")
            .with_scope("context:read")
            .with_attribute("department", "eng"),
        Principal::new("admin", AuthMethod::Jwt)
            .with_role("admin")
            .with_role("developer"),
        Principal::new("guest", AuthMethod::ApiKey).with_role("guest"),
    ]
}

/// The quoted strings of `text` (at most 8, at most 64 bytes each).
fn quoted(text: &str) -> Vec<&str> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.len() <= 64)
        .take(8)
        .collect()
}

fn same(a: &Decision, b: &Decision) -> bool {
    a.effect == b.effect
        && a.rule == b.rule
        && a.subject == b.subject
        && a.target == b.target
        && a.required_scopes == b.required_scopes
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 4096 {
        return;
    }
    let Ok(policy) = Policy::from_toml(text) else {
        return;
    };
    let again = Policy::from_toml(text).expect("the same text loads again");
    assert_eq!(policy.len(), again.len());
    let mut attributes = RequestAttributes::default();
    attributes.client_ip = Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
    attributes.method = Some("resources/read".to_owned());
    // A fixed instant, so time windows decide the same way on every call.
    attributes.now = Some(jiff_now());
    let mut targets: Vec<&str> = FIXED_TARGETS.to_vec();
    targets.extend(quoted(text));
    for principal in &principals() {
        for action in ACTIONS {
            for value in &targets {
                for target in [
                    Target::Context(value),
                    Target::Resource(value),
                    Target::Tool(value),
                    Target::Prompt(value),
                    Target::Grpc(value),
                    Target::Path(value),
                ] {
                    let first = policy.decide(principal, action, target, &attributes);
                    let second = policy.decide(principal, action, target, &attributes);
                    let reloaded = again.decide(principal, action, target, &attributes);
                    assert!(same(&first, &second), "{first:?} vs {second:?}");
                    assert!(same(&first, &reloaded), "{first:?} vs {reloaded:?}");
                    if policy.is_empty() {
                        assert!(!first.is_allowed(), "an empty policy denies: {first:?}");
                    }
                    if first.effect == Effect::Allow {
                        assert!(first.rule.is_some(), "an allow names its rule: {first:?}");
                        assert!(first.required_scopes.is_empty());
                    }
                    let _ = policy.labels_of(value);
                }
            }
        }
    }
});

/// 2026-03-04T12:00:00Z, a Wednesday.
fn jiff_now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_772_625_600).unwrap()
}
