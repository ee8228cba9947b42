//! The compiled policy and the decision function.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::{Action, Decision, Effect, RequestAttributes, Target};
use crate::client_addr::Cidr;
use crate::policy::glob::GlobTrie;
use crate::principal::Principal;

#[derive(Debug)]
pub(super) enum Roles {
    Anyone,
    Any(Vec<String>),
}

#[derive(Debug)]
pub(super) struct TimeWindow {
    pub(super) zone: jiff::tz::TimeZone,
    pub(super) days: Vec<jiff::civil::Weekday>,
    pub(super) from: Option<jiff::civil::Time>,
    pub(super) to: Option<jiff::civil::Time>,
}

#[derive(Debug, Default)]
pub(super) struct Conditions {
    pub(super) attributes: Vec<(String, Vec<Value>)>,
    pub(super) client_ip: Vec<Cidr>,
    pub(super) time: Option<TimeWindow>,
    pub(super) methods: Vec<String>,
    pub(super) sensitivity: Option<BTreeSet<String>>,
}

#[derive(Debug)]
pub(super) struct Rule {
    pub(super) id: Arc<str>,
    pub(super) allow: bool,
    pub(super) roles: Roles,
    pub(super) actions: u8,
    pub(super) scopes: Vec<String>,
    pub(super) when: Conditions,
}

/// A validated, compiled policy. Decisions cost the same whatever the number of rules: rules
/// are indexed by target pattern in segment tries.
///
/// Deny overrides allow; no matching allow means deny.
///
/// ```
/// use mcp_bastion::policy::{Action, Policy, RequestAttributes, Target};
/// use mcp_bastion::principal::{AuthMethod, Principal};
///
/// let policy = Policy::from_toml(r#"
///     roles = ["admin", "developer", "guest"]
///
///     [[rules]]
///     id = "alpha-team"
///     effect = "allow"
///     roles = ["admin", "developer"]
///     actions = ["read", "list"]
///     contexts = ["project-alpha/**"]
/// "#)?;
/// let dev = Principal::new("devUser", AuthMethod::ApiKey).with_role("developer");
/// let guest = Principal::new("guestUser", AuthMethod::ApiKey).with_role("guest");
/// let target = Target::Context("project-alpha/dependency-graph");
/// let attrs = RequestAttributes::default();
/// assert!(policy.decide(&dev, Action::Read, target, &attrs).is_allowed());
/// assert!(!policy.decide(&guest, Action::Read, target, &attrs).is_allowed());
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Policy {
    pub(super) rules: Vec<Rule>,
    /// One trie per target kind (see [`Target`]).
    pub(super) targets: [GlobTrie; 6],
    pub(super) labels: GlobTrie,
    pub(super) label_names: Vec<String>,
}

pub(super) const DAYS: [(&str, jiff::civil::Weekday); 7] = [
    ("mon", jiff::civil::Weekday::Monday),
    ("tue", jiff::civil::Weekday::Tuesday),
    ("wed", jiff::civil::Weekday::Wednesday),
    ("thu", jiff::civil::Weekday::Thursday),
    ("fri", jiff::civil::Weekday::Friday),
    ("sat", jiff::civil::Weekday::Saturday),
    ("sun", jiff::civil::Weekday::Sunday),
];

impl Policy {
    /// Whether any rule tests sensitivity labels (then labels a source gives a context are
    /// checked once the context is read).
    pub fn uses_labels(&self) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.when.sensitivity.is_some())
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the policy has no rule (then it denies everything).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The sensitivity labels the policy assigns to a context.
    pub fn labels_of(&self, context: &str) -> BTreeSet<&str> {
        let mut found = Vec::new();
        self.labels.matches(context, &mut found);
        found
            .into_iter()
            .filter_map(|i| self.label_names.get(i as usize).map(String::as_str))
            .collect()
    }

    /// Decides whether `principal` may do `action` to `target`.
    pub fn decide(
        &self,
        principal: &Principal,
        action: Action,
        target: Target<'_>,
        attributes: &RequestAttributes,
    ) -> Decision {
        let mut candidates = Vec::new();
        match target {
            Target::Resource(uri) => self.targets[1].matches(&uri_segments(uri), &mut candidates),
            _ => self.targets[target.kind()].matches(target.value(), &mut candidates),
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut labels = match target {
            Target::Context(id) => self.labels_of(id),
            _ => BTreeSet::new(),
        };
        labels.extend(attributes.resource_labels.iter().map(String::as_str));
        let mut allowed: Option<&Rule> = None;
        let mut scope_blocked: Option<&Rule> = None;
        for rule in candidates
            .iter()
            .filter_map(|i| self.rules.get(*i as usize))
        {
            if rule.actions & action.bit() == 0
                || !rule.applies_to(principal)
                || !rule.when.hold(principal, attributes, &labels, !rule.allow)
            {
                continue;
            }
            if !rule.allow {
                return self.decision(
                    Effect::Deny,
                    Some(rule),
                    principal,
                    action,
                    target,
                    Vec::new(),
                );
            }
            if rule.scopes.iter().all(|s| principal.has_scope(s)) {
                allowed = allowed.or(Some(rule));
            } else {
                scope_blocked = scope_blocked.or(Some(rule));
            }
        }
        match (allowed, scope_blocked) {
            (Some(rule), _) => self.decision(
                Effect::Allow,
                Some(rule),
                principal,
                action,
                target,
                Vec::new(),
            ),
            (None, Some(rule)) => self.decision(
                Effect::Deny,
                Some(rule),
                principal,
                action,
                target,
                rule.scopes.clone(),
            ),
            (None, None) => {
                self.decision(Effect::Deny, None, principal, action, target, Vec::new())
            }
        }
    }

    #[allow(clippy::unused_self)]
    fn decision(
        &self,
        effect: Effect,
        rule: Option<&Rule>,
        principal: &Principal,
        action: Action,
        target: Target<'_>,
        required_scopes: Vec<String>,
    ) -> Decision {
        Decision {
            effect,
            rule: rule.map(|r| Arc::clone(&r.id)),
            subject: principal.subject.clone(),
            action,
            target: target.to_string(),
            required_scopes,
        }
    }
}

/// A URI as `/`-segments: `file:///docs/a` becomes `file:/docs/a`, so that `scheme://` is one
/// segment and globs apply to the path.
pub(super) fn uri_segments(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}:/{}", rest.trim_start_matches('/')),
        None => uri.to_owned(),
    }
}

impl Rule {
    fn applies_to(&self, principal: &Principal) -> bool {
        match &self.roles {
            Roles::Anyone => true,
            Roles::Any(roles) => roles.iter().any(|r| principal.has_role(r)),
        }
    }
}

impl Conditions {
    /// Whether every condition holds. A fact the request does not carry (an unknown client
    /// address) fails closed: an allow rule that tests it does not apply, and a deny rule
    /// that tests it does (`deny`).
    fn hold(
        &self,
        principal: &Principal,
        request: &RequestAttributes,
        labels: &BTreeSet<&str>,
        deny: bool,
    ) -> bool {
        let attributes_hold = self.attributes.iter().all(|(name, allowed)| {
            principal
                .attributes
                .get(name)
                .is_some_and(|value| allowed.contains(value))
        });
        let ip_holds = self.client_ip.is_empty()
            || request.client_ip.map_or(deny, |ip| {
                self.client_ip.iter().any(|block| block.contains(ip))
            });
        let method_holds = self.methods.is_empty()
            || request
                .method
                .as_ref()
                .is_some_and(|m| self.methods.iter().any(|allowed| allowed == m));
        let labels_hold = self
            .sensitivity
            .as_ref()
            .is_none_or(|allowed| labels.iter().all(|label| allowed.contains(*label)));
        attributes_hold && ip_holds && method_holds && labels_hold && self.time_holds(request)
    }

    fn time_holds(&self, request: &RequestAttributes) -> bool {
        let Some(window) = &self.time else {
            return true;
        };
        let now = request.now.unwrap_or_else(jiff::Timestamp::now);
        let local = window.zone.to_datetime(now);
        if !window.days.is_empty() && !window.days.contains(&local.weekday()) {
            return false;
        }
        let time = local.time();
        match (window.from, window.to) {
            (Some(from), Some(to)) if from <= to => time >= from && time < to,
            // A window across midnight (22:00 to 06:00).
            (Some(from), Some(to)) => time >= from || time < to,
            (Some(from), None) => time >= from,
            (None, Some(to)) => time < to,
            (None, None) => true,
        }
    }
}
