//! The TOML policy file: its format, validation (errors name field and place) and
//! compilation.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

use super::Action;
use super::compiled::{Conditions, DAYS, Policy, Roles, Rule, TimeWindow, uri_segments};
use crate::client_addr::Cidr;
use crate::error::ConfigError;
use crate::policy::glob::GlobTrie;
use std::sync::Arc;

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
}
