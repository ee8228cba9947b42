use std::net::IpAddr;

use super::*;
use crate::principal::{AuthMethod, Principal};

const SEED: &str = r#"
roles = ["admin", "developer", "guest"]

[labels]
"project-alpha/**" = "confidential"
"public-docs/**" = "public"

[[rules]]
id = "alpha-team"
effect = "allow"
roles = ["admin", "developer"]
actions = ["read", "list"]
contexts = ["project-alpha/**"]

[[rules]]
id = "everyone-else"
effect = "allow"
roles = ["guest", "developer", "admin"]
actions = ["read", "list"]
contexts = ["**"]
when = { sensitivity = ["public"] }
"#;

fn user(role: &str) -> Principal {
    Principal::new(format!("{role}User"), AuthMethod::ApiKey).with_role(role)
}

fn attrs() -> RequestAttributes {
    RequestAttributes::default()
}

#[test]
fn the_seed_worked_example() {
    let policy = Policy::from_toml(SEED).unwrap();
    let alpha = Target::Context("project-alpha/dependency-graph");
    let docs = Target::Context("public-docs/getting-started");
    assert!(
        !policy
            .decide(&user("guest"), Action::Read, alpha, &attrs())
            .is_allowed()
    );
    let dev = policy.decide(&user("developer"), Action::Read, alpha, &attrs());
    assert!(dev.is_allowed());
    assert_eq!(dev.rule.as_deref(), Some("alpha-team"));
    assert!(
        policy
            .decide(&user("guest"), Action::Read, docs, &attrs())
            .is_allowed()
    );
    assert!(
        !policy
            .decide(&Principal::anonymous(), Action::Read, docs, &attrs())
            .is_allowed()
    );
    let denied = policy.decide(&user("guest"), Action::Call, docs, &attrs());
    assert_eq!(
        (denied.effect, denied.rule),
        (Effect::Deny, None),
        "default deny"
    );
    assert_eq!(denied.target, "context:public-docs/getting-started");
}

#[test]
fn deny_overrides_allow_and_scopes_are_reported() {
    let policy = Policy::from_toml(
        r#"
        roles = ["dev"]
        [[rules]]
        id = "read-all"
        effect = "allow"
        roles = ["dev"]
        actions = ["*"]
        contexts = ["**"]
        scopes = ["context:read", "context:list"]
        [[rules]]
        id = "no-secrets"
        effect = "deny"
        roles = ["*"]
        actions = ["read"]
        contexts = ["secrets/**"]
    "#,
    )
    .unwrap();
    let dev = user("dev")
        .with_scope("context:read")
        .with_scope("context:list");
    assert!(
        policy
            .decide(&dev, Action::Read, Target::Context("a/b"), &attrs())
            .is_allowed()
    );
    let secret = policy.decide(&dev, Action::Read, Target::Context("secrets/key"), &attrs());
    assert_eq!(
        (secret.effect, secret.rule.as_deref()),
        (Effect::Deny, Some("no-secrets"))
    );
    let narrow = user("dev").with_scope("context:read");
    let decision = policy.decide(&narrow, Action::Read, Target::Context("a/b"), &attrs());
    assert!(!decision.is_allowed());
    assert_eq!(decision.required_scopes, ["context:read", "context:list"]);
}

#[test]
fn every_condition_kind() {
    let policy = Policy::from_toml(r#"
        roles = ["dev"]
        [[rules]]
        id = "office-hours"
        effect = "allow"
        roles = ["dev"]
        actions = ["read"]
        contexts = ["reports/**"]
        [rules.when]
        attributes = { department = ["eng", "ops"] }
        client_ip = ["10.0.0.0/8"]
        methods = ["resources/read", "GET"]
        time = { zone = "Europe/Berlin", days = ["mon", "tue", "wed", "thu", "fri"], from = "08:00", to = "18:00" }
    "#).unwrap();
    let eng = user("dev").with_attribute("department", "eng");
    // Wednesday 2026-11-25 10:00 in Berlin is 09:00 UTC.
    let office: jiff::Timestamp = "2026-11-25T09:00:00Z".parse().unwrap();
    let ok = RequestAttributes {
        client_ip: Some("10.1.2.3".parse::<IpAddr>().unwrap()),
        method: Some("resources/read".into()),
        now: Some(office),
        ..RequestAttributes::default()
    };
    let target = Target::Context("reports/q3");
    assert!(policy.decide(&eng, Action::Read, target, &ok).is_allowed());

    let sales = user("dev").with_attribute("department", "sales");
    assert!(
        !policy
            .decide(&sales, Action::Read, target, &ok)
            .is_allowed(),
        "attribute"
    );
    let outside = RequestAttributes {
        client_ip: Some("192.168.1.1".parse().unwrap()),
        ..ok.clone()
    };
    assert!(
        !policy
            .decide(&eng, Action::Read, target, &outside)
            .is_allowed(),
        "client ip"
    );
    let no_ip = RequestAttributes {
        client_ip: None,
        ..ok.clone()
    };
    assert!(
        !policy
            .decide(&eng, Action::Read, target, &no_ip)
            .is_allowed(),
        "unknown ip fails closed"
    );
    let other_method = RequestAttributes {
        method: Some("tools/call".into()),
        ..ok.clone()
    };
    assert!(
        !policy
            .decide(&eng, Action::Read, target, &other_method)
            .is_allowed(),
        "method"
    );
    let evening = RequestAttributes {
        now: Some("2026-11-25T18:30:00Z".parse().unwrap()),
        ..ok.clone()
    };
    assert!(
        !policy
            .decide(&eng, Action::Read, target, &evening)
            .is_allowed(),
        "time of day"
    );
    let sunday = RequestAttributes {
        now: Some("2026-11-29T09:00:00Z".parse().unwrap()),
        ..ok.clone()
    };
    assert!(
        !policy
            .decide(&eng, Action::Read, target, &sunday)
            .is_allowed(),
        "weekday"
    );
}

#[test]
fn overnight_windows_and_labels() {
    let policy = Policy::from_toml(r#"
        roles = ["ops"]
        [labels]
        "vault/**" = "restricted"
        "vault/public/**" = "public"
        [[rules]]
        id = "night-shift"
        effect = "allow"
        roles = ["ops"]
        actions = ["read"]
        contexts = ["**"]
        when = { time = { zone = "UTC", from = "22:00", to = "06:00" }, sensitivity = ["public", "restricted"] }
    "#).unwrap();
    let at = |t: &str| RequestAttributes {
        now: Some(t.parse().unwrap()),
        ..RequestAttributes::default()
    };
    let target = Target::Context("vault/public/x");
    assert_eq!(
        policy
            .labels_of("vault/public/x")
            .into_iter()
            .collect::<Vec<_>>(),
        ["public", "restricted"]
    );
    assert!(
        policy
            .decide(
                &user("ops"),
                Action::Read,
                target,
                &at("2026-11-25T23:00:00Z")
            )
            .is_allowed()
    );
    assert!(
        policy
            .decide(
                &user("ops"),
                Action::Read,
                target,
                &at("2026-11-25T05:59:00Z")
            )
            .is_allowed()
    );
    assert!(
        !policy
            .decide(
                &user("ops"),
                Action::Read,
                target,
                &at("2026-11-25T12:00:00Z")
            )
            .is_allowed()
    );
}

#[test]
fn tools_prompts_grpc_and_paths() {
    let policy = Policy::from_toml(
        r#"
        roles = ["dev"]
        [[rules]]
        id = "dev-tools"
        effect = "allow"
        roles = ["dev"]
        actions = ["call", "read"]
        tools = ["build-*"]
        prompts = ["review"]
        grpc = ["/ctx.v1.Contexts/*"]
        paths = ["/health"]
        resources = ["file:///docs/**"]
    "#,
    )
    .unwrap();
    let dev = user("dev");
    let cases = [
        (Action::Call, Target::Tool("build-linux"), true),
        (Action::Call, Target::Tool("deploy"), false),
        (Action::Read, Target::Prompt("review"), true),
        (Action::Call, Target::Grpc("/ctx.v1.Contexts/Get"), true),
        (Action::Call, Target::Grpc("/admin.v1.Admin/Drop"), false),
        (Action::Read, Target::Path("/health"), true),
        (Action::Read, Target::Resource("file:///docs/a/b.md"), true),
        // Target kinds do not mix: a resource glob does not grant a context id.
        (Action::Read, Target::Context("docs/a"), false),
    ];
    for (action, target, allowed) in cases {
        let decision = policy.decide(&dev, action, target, &attrs());
        assert_eq!(decision.is_allowed(), allowed, "{action} {target}");
    }
}

#[test]
fn validation_errors_name_the_field_and_place() {
    let rule = |body: &str| format!("roles = [\"dev\"]\n[[rules]]\nid = \"r\"\n{body}");
    let base =
        "effect = \"allow\"\nroles = [\"dev\"]\nactions = [\"read\"]\ncontexts = [\"a/**\"]\n";
    assert!(Policy::from_toml(&rule(base)).is_ok());
    let cases = [
        (
            base.replace("[\"dev\"]", "[\"ghost\"]"),
            "rules[0] (r).roles[0]: unknown role \"ghost\"",
        ),
        (
            base.replace("\"read\"", "\"fly\""),
            "rules[0] (r).actions[0]: unknown action \"fly\"",
        ),
        (
            base.replace("\"allow\"", "\"maybe\""),
            "rules[0] (r).effect",
        ),
        (
            base.replace("\"a/**\"", "\"a//b\""),
            "rules[0] (r).contexts[0]: bad glob",
        ),
        (
            format!("{base}when = {{ client_ip = [\"10.0.0.0/99\"] }}\n"),
            "rules[0] (r).when.client_ip[0]",
        ),
        (
            format!("{base}when = {{ time = {{ zone = \"Mars/Olympus\" }} }}\n"),
            "rules[0] (r).when.time.zone: unknown time zone",
        ),
        (
            format!("{base}when = {{ time = {{ zone = \"UTC\", days = [\"someday\"] }} }}\n"),
            "when.time.days[0]",
        ),
        (
            format!("{base}when = {{ time = {{ zone = \"UTC\", from = \"25:00\" }} }}\n"),
            "when.time.from",
        ),
        (
            format!("{base}when = {{ sensitivity = [\"secret\"] }}\n"),
            "unknown label \"secret\"",
        ),
        (
            base.replace("contexts = [\"a/**\"]\n", ""),
            "name at least one target",
        ),
        (
            format!("{base}colour = \"red\"\n"),
            "unknown field `colour`",
        ),
    ];
    for (body, expected) in cases {
        let err = Policy::from_toml(&rule(&body)).unwrap_err().to_string();
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
    }
    let twice = format!("{}\n[[rules]]\nid = \"r\"\n{base}", rule(base));
    assert!(
        Policy::from_toml(&twice)
            .unwrap_err()
            .to_string()
            .contains("used twice")
    );
    assert!(Policy::from_toml("roles = [").is_err());
}
