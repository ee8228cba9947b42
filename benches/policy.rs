//! Policy decision cost as the number of rules grows (10 -> 10,000): the compiled tries keep
//! it flat. And the cost of a pathological glob (several `**`) as the target id grows: it
//! stays polynomial in the number of segments.

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use mcp_bastion::policy::{Action, Policy, RequestAttributes, Target};
use mcp_bastion::principal::{AuthMethod, Principal};

/// `n` teams, each with its own role and context tree, plus a deny and a conditional rule.
fn policy(n: usize) -> Policy {
    let roles: Vec<String> = (0..n).map(|i| format!("\"team-{i}\"")).collect();
    let rules: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "[[rules]]\nid = \"team-{i}\"\neffect = \"allow\"\nroles = [\"team-{i}\"]\nactions = [\"read\", \"list\"]\ncontexts = [\"team-{i}/**\", \"shared/team-{i}-*\"]\n"
            )
        })
        .collect();
    let mut text = format!(
        "roles = [{}]\n[labels]\n\"secret/**\" = \"restricted\"\n{}",
        roles.join(", "),
        rules.concat()
    );
    text.push_str("[[rules]]\nid = \"no-secrets\"\neffect = \"deny\"\nroles = [\"*\"]\nactions = [\"*\"]\ncontexts = [\"secret/**\"]\n");
    Policy::from_toml(&text).unwrap()
}

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy_decide");
    for n in [10usize, 100, 1_000, 10_000] {
        let policy = policy(n);
        let member =
            Principal::new("member", AuthMethod::ApiKey).with_role(format!("team-{}", n / 2));
        let allowed = format!("team-{}/docs/design", n / 2);
        let attributes = RequestAttributes::default();
        group.bench_with_input(BenchmarkId::new("allow", n), &n, |b, _| {
            b.iter(|| {
                assert!(
                    policy
                        .decide(
                            &member,
                            Action::Read,
                            Target::Context(&allowed),
                            &attributes
                        )
                        .is_allowed()
                );
            });
        });
        let other = format!("team-{}/docs/design", n / 3 + 1);
        group.bench_with_input(BenchmarkId::new("default_deny", n), &n, |b, _| {
            b.iter(|| {
                assert!(
                    !policy
                        .decide(&member, Action::Read, Target::Context(&other), &attributes)
                        .is_allowed()
                );
            });
        });
    }
    group.finish();
}

/// A rule whose pattern has `globstars` `**` segments then `x`, against ids of `n` segments
/// that end in `x` (allowed) or `y` (denied after trying every split).
fn pathological_globs(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy_glob_globstars");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    let attributes = RequestAttributes::default();
    let reader = Principal::new("reader", AuthMethod::ApiKey).with_role("reader");
    for globstars in [4usize, 6] {
        let pattern = format!("{}x", "**/".repeat(globstars));
        let policy = Policy::from_toml(&format!(
            "roles = [\"reader\"]\n[[rules]]\nid = \"deep\"\neffect = \"allow\"\nroles = [\"reader\"]\nactions = [\"read\"]\ncontexts = [\"{pattern}\"]\n"
        ))
        .unwrap();
        for n in [16usize, 64, 256, 512] {
            let id = |last: &str| {
                let mut parts: Vec<String> = (1..n).map(|i| format!("s{i}")).collect();
                parts.push(last.to_owned());
                parts.join("/")
            };
            let (hit, miss) = (id("x"), id("y"));
            let name = format!("{globstars}x**");
            group.bench_with_input(BenchmarkId::new(format!("{name}/match"), n), &n, |b, _| {
                b.iter(|| {
                    assert!(
                        policy
                            .decide(&reader, Action::Read, Target::Context(&hit), &attributes)
                            .is_allowed()
                    );
                });
            });
            group.bench_with_input(BenchmarkId::new(format!("{name}/miss"), n), &n, |b, _| {
                b.iter(|| {
                    assert!(
                        !policy
                            .decide(&reader, Action::Read, Target::Context(&miss), &attributes)
                            .is_allowed()
                    );
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decisions, pathological_globs);
criterion_main!(benches);
