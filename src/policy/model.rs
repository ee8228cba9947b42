//! The policy: its file format, validation, compiled form and the decision function.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::cidr::Cidr;
use super::glob::GlobTrie;
use crate::error::ConfigError;
use crate::principal::Principal;

/// What a request does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Read a context or resource, get a prompt.
    Read,
    /// List contexts or resources.
    List,
    /// Call a tool or a gRPC method.
    Call,
    /// Change something.
    Write,
    /// Administrative operations.
    Admin,
}

impl Action {
    const ALL: [Self; 5] = [Self::Read, Self::List, Self::Call, Self::Write, Self::Admin];

    fn bit(self) -> u8 {
        match self {
            Self::Read => 1,
            Self::List => 2,
            Self::Call => 4,
            Self::Write => 8,
            Self::Admin => 16,
        }
    }

    /// `read`, `list`, `call`, `write` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::List => "list",
            Self::Call => "call",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target<'a> {
    /// A context id (`project-alpha/dependency-graph`); also what mapped resource URIs become.
    Context(&'a str),
    /// A resource URI no mapping turns into a context id (`file:///docs/a.md`).
    Resource(&'a str),
    /// A tool name.
    Tool(&'a str),
    /// A prompt name.
    Prompt(&'a str),
    /// A gRPC method path (`/pkg.Service/Method`).
    Grpc(&'a str),
    /// Any other HTTP path.
    Path(&'a str),
}

impl Target<'_> {
    fn kind(self) -> usize {
        match self {
            Self::Context(_) => 0,
            Self::Resource(_) => 1,
            Self::Tool(_) => 2,
            Self::Prompt(_) => 3,
            Self::Grpc(_) => 4,
            Self::Path(_) => 5,
        }
    }

    fn name(self) -> &'static str {
        ["context", "resource", "tool", "prompt", "grpc", "path"][self.kind()]
    }

    /// The id, URI, name or path.
    pub fn value(&self) -> &str {
        match self {
            Self::Context(v)
            | Self::Resource(v)
            | Self::Tool(v)
            | Self::Prompt(v)
            | Self::Grpc(v)
            | Self::Path(v) => v,
        }
    }
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name(), self.value())
    }
}

/// Facts about the request that conditions may test.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RequestAttributes {
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The MCP method (`resources/read`) or, for other requests, the HTTP method (`GET`).
    pub method: Option<String>,
    /// The time of the request (default: now).
    pub now: Option<jiff::Timestamp>,
    /// Sensitivity labels the context source gave the target (added to the policy's own).
    pub resource_labels: BTreeSet<String>,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The request may proceed.
    Allow,
    /// The request is refused.
    Deny,
}

/// The outcome of a policy check, with what explains it. Contains no credential.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// Allow or deny.
    pub effect: Effect,
    /// The id of the deciding rule; `None` when nothing allowed (default deny).
    pub rule: Option<Arc<str>>,
    /// The subject of the principal.
    pub subject: String,
    /// The action checked.
    pub action: Action,
    /// The target checked, as `kind:value`.
    pub target: String,
    /// When an allow rule matched but the token lacks scopes: every scope that rule needs.
    pub required_scopes: Vec<String>,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        self.effect == Effect::Allow
    }
}

// ------------------------------------------------------------------------------------------
// The file format.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RuleDocument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDocument {
    id: String,
    effect: String,
    roles: Vec<String>,
    actions: Vec<String>,
    #[serde(default)]
    contexts: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    tools: Vec<String>,
    #[serde(default)]
    prompts: Vec<String>,
    #[serde(default)]
    grpc: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    when: Option<WhenDocument>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WhenDocument {
    #[serde(default)]
    attributes: BTreeMap<String, Vec<Value>>,
    #[serde(default)]
    client_ip: Vec<String>,
    #[serde(default)]
    time: Option<TimeDocument>,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    sensitivity: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeDocument {
    zone: String,
    #[serde(default)]
    days: Vec<String>,
    from: Option<String>,
    to: Option<String>,
}

// ------------------------------------------------------------------------------------------
// The compiled form.

#[derive(Debug)]
enum Roles {
    Anyone,
    Any(Vec<String>),
}

#[derive(Debug)]
struct TimeWindow {
    zone: jiff::tz::TimeZone,
    days: Vec<jiff::civil::Weekday>,
    from: Option<jiff::civil::Time>,
    to: Option<jiff::civil::Time>,
}

#[derive(Debug, Default)]
struct Conditions {
    attributes: Vec<(String, Vec<Value>)>,
    client_ip: Vec<Cidr>,
    time: Option<TimeWindow>,
    methods: Vec<String>,
    sensitivity: Option<BTreeSet<String>>,
}

#[derive(Debug)]
struct Rule {
    id: Arc<str>,
    allow: bool,
    roles: Roles,
    actions: u8,
    scopes: Vec<String>,
    when: Conditions,
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
    rules: Vec<Rule>,
    /// One trie per target kind (see [`Target`]).
    targets: [GlobTrie; 6],
    labels: GlobTrie,
    label_names: Vec<String>,
}

const DAYS: [(&str, jiff::civil::Weekday); 7] = [
    ("mon", jiff::civil::Weekday::Monday),
    ("tue", jiff::civil::Weekday::Tuesday),
    ("wed", jiff::civil::Weekday::Wednesday),
    ("thu", jiff::civil::Weekday::Thursday),
    ("fri", jiff::civil::Weekday::Friday),
    ("sat", jiff::civil::Weekday::Saturday),
    ("sun", jiff::civil::Weekday::Sunday),
];

fn time_of_day(text: &str, place: &str) -> Result<jiff::civil::Time, ConfigError> {
    let bad = || ConfigError::new(format!("{place}: {text:?} is not a time of day (HH:MM)"));
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m) = (
        h.parse::<i8>().map_err(|_| bad())?,
        m.parse::<i8>().map_err(|_| bad())?,
    );
    jiff::civil::Time::new(h, m, 0, 0).map_err(|_| bad())
}

impl Policy {
    /// Parses and validates a TOML policy. Errors name the field and place
    /// (`rules[2].contexts[0]`), so a wrong file can be fixed from the message alone.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let document: Document =
            toml::from_str(text).map_err(|err| ConfigError::new(format!("policy: {err}")))?;
        Self::compile(document)
    }

    /// Reads and parses a TOML policy file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|err| ConfigError::new(format!("policy file {}: {err}", path.display())))?;
        Self::from_toml(&text)
            .map_err(|err| ConfigError::new(format!("{}: {}", path.display(), err.message())))
    }

    #[allow(clippy::too_many_lines)]
    fn compile(document: Document) -> Result<Self, ConfigError> {
        let declared: HashSet<&str> = document.roles.iter().map(String::as_str).collect();
        let mut labels = GlobTrie::default();
        let mut label_names = Vec::new();
        for (pattern, label) in &document.labels {
            let index = u32::try_from(label_names.len()).unwrap_or(u32::MAX);
            labels
                .insert(pattern, index)
                .map_err(|err| ConfigError::new(format!("labels.{pattern:?}: {}", err.0)))?;
            label_names.push(label.clone());
        }
        let known_labels: HashSet<&str> = label_names.iter().map(String::as_str).collect();
        let mut ids = HashSet::new();
        let mut rules = Vec::with_capacity(document.rules.len());
        let mut targets: [GlobTrie; 6] = Default::default();
        for (index, rule) in document.rules.into_iter().enumerate() {
            let place = format!("rules[{index}]");
            if rule.id.is_empty() || !ids.insert(rule.id.clone()) {
                return Err(ConfigError::new(format!(
                    "{place}.id: {:?} is empty or used twice",
                    rule.id
                )));
            }
            let place = format!("rules[{index}] ({})", rule.id);
            let allow = match rule.effect.as_str() {
                "allow" => true,
                "deny" => false,
                other => {
                    return Err(ConfigError::new(format!(
                        "{place}.effect: {other:?} is not \"allow\" or \"deny\""
                    )));
                }
            };
            let roles = if rule.roles.iter().any(|r| r == "*") {
                Roles::Anyone
            } else {
                for (i, role) in rule.roles.iter().enumerate() {
                    if !declared.contains(role.as_str()) {
                        return Err(ConfigError::new(format!(
                            "{place}.roles[{i}]: unknown role {role:?}; declare it in `roles`"
                        )));
                    }
                }
                if rule.roles.is_empty() {
                    return Err(ConfigError::new(format!(
                        "{place}.roles: list at least one role, or \"*\""
                    )));
                }
                Roles::Any(rule.roles.clone())
            };
            let mut actions = 0u8;
            for (i, action) in rule.actions.iter().enumerate() {
                actions |= match action.as_str() {
                    "*" => Action::ALL.iter().fold(0, |bits, a| bits | a.bit()),
                    name => Action::ALL
                        .iter()
                        .find(|a| a.as_str() == name)
                        .map(|a| a.bit())
                        .ok_or_else(|| {
                            ConfigError::new(format!(
                                "{place}.actions[{i}]: unknown action {name:?} (read, list, call, write, admin, *)"
                            ))
                        })?,
                };
            }
            if actions == 0 {
                return Err(ConfigError::new(format!(
                    "{place}.actions: list at least one action"
                )));
            }
            let value = u32::try_from(index).map_err(|_| ConfigError::new("too many rules"))?;
            let kinds = [
                ("contexts", &rule.contexts),
                ("resources", &rule.resources),
                ("tools", &rule.tools),
                ("prompts", &rule.prompts),
                ("grpc", &rule.grpc),
                ("paths", &rule.paths),
            ];
            let mut any_target = false;
            for (kind, (field, patterns)) in kinds.into_iter().enumerate() {
                for (i, pattern) in patterns.iter().enumerate() {
                    let pattern = if kind == 1 {
                        uri_segments(pattern)
                    } else {
                        pattern.clone()
                    };
                    targets[kind].insert(&pattern, value).map_err(|err| {
                        ConfigError::new(format!("{place}.{field}[{i}]: bad glob: {}", err.0))
                    })?;
                    any_target = true;
                }
            }
            if !any_target {
                return Err(ConfigError::new(format!(
                    "{place}: name at least one target (contexts, resources, tools, prompts, grpc, paths)"
                )));
            }
            let when = rule.when.unwrap_or_default();
            let client_ip = when
                .client_ip
                .iter()
                .enumerate()
                .map(|(i, block)| {
                    Cidr::parse(block).map_err(|err| {
                        ConfigError::new(format!("{place}.when.client_ip[{i}]: {err}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let time = when
                .time
                .map(|time| -> Result<TimeWindow, ConfigError> {
                    let zone = jiff::tz::TimeZone::get(&time.zone).map_err(|_| {
                        ConfigError::new(format!(
                            "{place}.when.time.zone: unknown time zone {:?}",
                            time.zone
                        ))
                    })?;
                    let days = time
                        .days
                        .iter()
                        .enumerate()
                        .map(|(i, day)| {
                            DAYS.iter()
                                .find(|(name, _)| name.eq_ignore_ascii_case(day))
                                .map(|(_, d)| *d)
                                .ok_or_else(|| {
                                    ConfigError::new(format!(
                                        "{place}.when.time.days[{i}]: {day:?} is not mon..sun"
                                    ))
                                })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let from = time
                        .from
                        .as_deref()
                        .map(|t| time_of_day(t, &format!("{place}.when.time.from")))
                        .transpose()?;
                    let to = time
                        .to
                        .as_deref()
                        .map(|t| time_of_day(t, &format!("{place}.when.time.to")))
                        .transpose()?;
                    Ok(TimeWindow {
                        zone,
                        days,
                        from,
                        to,
                    })
                })
                .transpose()?;
            for (i, label) in when.sensitivity.iter().enumerate() {
                if !known_labels.contains(label.as_str()) {
                    return Err(ConfigError::new(format!(
                        "{place}.when.sensitivity[{i}]: unknown label {label:?}; assign it in `labels`"
                    )));
                }
            }
            rules.push(Rule {
                id: Arc::from(rule.id),
                allow,
                roles,
                actions,
                scopes: rule.scopes,
                when: Conditions {
                    attributes: when.attributes.into_iter().collect(),
                    client_ip,
                    time,
                    methods: when.methods,
                    sensitivity: (!when.sensitivity.is_empty())
                        .then(|| when.sensitivity.into_iter().collect()),
                },
            });
        }
        Ok(Self {
            rules,
            targets,
            labels,
            label_names,
        })
    }

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
                || !rule.when.hold(principal, attributes, &labels)
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
fn uri_segments(uri: &str) -> String {
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
    fn hold(
        &self,
        principal: &Principal,
        request: &RequestAttributes,
        labels: &BTreeSet<&str>,
    ) -> bool {
        let attributes_hold = self.attributes.iter().all(|(name, allowed)| {
            principal
                .attributes
                .get(name)
                .is_some_and(|value| allowed.contains(value))
        });
        let ip_holds = self.client_ip.is_empty()
            || request
                .client_ip
                .is_some_and(|ip| self.client_ip.iter().any(|block| block.contains(ip)));
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
