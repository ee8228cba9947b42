//! [`RateLimits`]: the configuration validated by [`RateLimitConfig::build`] (every refusal
//! names its field) and its store, shared by the layers; who gets which quota, what a
//! request costs, and whose bucket it is.

use std::net::IpAddr;
use std::sync::Arc;

use http::Extensions;
use serde_json::Value;

use super::config::{
    Costs, Exempt, FAILED_AUTH_QUOTA, MAX_COST, PER_ADDRESS_QUOTA, QuotaConfig, RateLimitConfig,
    StoreFailure,
};
use super::memory::{DEFAULT_MAX_KEYS, MAX_KEYS_LIMIT, MemoryStore};
use super::quota::Quota;
use super::store::{RateLimitStore, StoreStats};
use crate::client_addr::ClientAddr;
use crate::error::ConfigError;
use crate::mcp::{McpRequest, Operation, RpcMessage};
use crate::principal::{AuthMethod, Principal};

/// Validated limits and the store that keeps their state; cheap to clone, shared by every
/// layer built from it. Made by [`RateLimitConfig::build`](super::RateLimitConfig::build).
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub(crate) compiled: Arc<Compiled>,
    pub(crate) store: Arc<dyn RateLimitStore>,
}

/// The configuration, checked and indexed.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) quotas: Vec<Quota>,
    pub(crate) rules: Vec<QuotaMatch>,
    pub(crate) default: Option<usize>,
    pub(crate) exempt: Exempt,
    pub(crate) costs: Costs,
    pub(crate) per_address: Option<usize>,
    pub(crate) failed_auth: Option<usize>,
    pub(crate) ipv6_prefix: u8,
    pub(crate) on_store_error: StoreFailure,
}

/// A rule, with its quota's index.
#[derive(Debug)]
pub(crate) struct QuotaMatch {
    pub(crate) quota: usize,
    pub(crate) principals: Vec<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) attributes: std::collections::BTreeMap<String, Value>,
}

impl QuotaMatch {
    fn matches(&self, principal: &Principal, identity: &str) -> bool {
        (self.principals.is_empty() || self.principals.iter().any(|p| p == identity))
            && (self.roles.is_empty() || self.roles.iter().any(|role| principal.has_role(role)))
            && self
                .attributes
                .iter()
                .all(|(name, value)| principal.attributes.get(name) == Some(value))
    }
}

/// Whose bucket a request is charged to, and under which quota.
#[derive(Debug)]
pub(crate) enum Charge<'a> {
    /// Not limited.
    Exempt,
    /// `key` spends from `quota`.
    To { quota: &'a Quota, key: String },
}

impl RateLimits {
    pub(crate) fn new(compiled: Compiled, store: Arc<dyn RateLimitStore>) -> Self {
        Self {
            compiled: Arc::new(compiled),
            store,
        }
    }

    /// The quota named `name` (including `per-address` and `failed-auth` when configured).
    pub fn quota(&self, name: &str) -> Option<&Quota> {
        self.compiled
            .quotas
            .iter()
            .find(|quota| quota.name() == name)
    }

    /// The store keeping the buckets.
    pub fn store(&self) -> &Arc<dyn RateLimitStore> {
        &self.store
    }

    /// The store's counters (keys tracked, evictions).
    pub fn stats(&self) -> StoreStats {
        self.store.stats()
    }

    /// The quota `principal` gets, or `None` when it is exempt or nothing is configured.
    pub fn quota_of(&self, principal: &Principal) -> Option<&Quota> {
        match self.charge_of(Some(principal), None) {
            Charge::To { quota, .. } => Some(quota),
            Charge::Exempt => None,
        }
    }

    /// Who pays for a request after authentication: the principal by its identity, or an
    /// anonymous caller by its address (unknown addresses share one bucket).
    pub(crate) fn charge_of(
        &self,
        principal: Option<&Principal>,
        addr: Option<&ClientAddr>,
    ) -> Charge<'_> {
        let compiled = &*self.compiled;
        let principal = principal.filter(|p| !p.is_anonymous());
        let identity = principal.map(Principal::identity);
        if let (Some(principal), Some(identity)) = (principal, &identity) {
            let exempt = &compiled.exempt;
            if exempt.principals.iter().any(|p| p == *identity)
                || exempt.roles.iter().any(|role| principal.has_role(role))
            {
                return Charge::Exempt;
            }
        }
        let chosen = principal
            .zip(identity)
            .and_then(|(principal, identity)| {
                compiled
                    .rules
                    .iter()
                    .find(|rule| rule.matches(principal, identity))
            })
            .map(|rule| rule.quota)
            .or(compiled.default);
        let Some(quota) = chosen.map(|index| &compiled.quotas[index]) else {
            return Charge::Exempt;
        };
        // An identity starts with its method ("ApiKey:…"), an address key with "a:": the two
        // kinds never collide, and the identity is the key as it is (no second allocation).
        let key = match identity {
            Some(identity) => identity.to_owned(),
            // Anonymous callers without a known address share one bucket.
            None => self
                .address_key(addr)
                .unwrap_or_else(|| "a:unknown".to_owned()),
        };
        Charge::To { quota, key }
    }

    /// The per-address quota, when configured.
    pub(crate) fn per_address(&self) -> Option<&Quota> {
        self.compiled.per_address.map(|i| &self.compiled.quotas[i])
    }

    /// The failed-authentication quota, when configured.
    pub(crate) fn failed_auth(&self) -> Option<&Quota> {
        self.compiled.failed_auth.map(|i| &self.compiled.quotas[i])
    }

    pub(crate) fn on_store_error(&self) -> StoreFailure {
        self.compiled.on_store_error
    }

    /// Units a classified request costs. A JSON-RPC batch costs the sum of its messages and
    /// is charged as a whole, before any of them runs.
    pub(crate) fn cost(&self, request: &McpRequest) -> u32 {
        let costs = &self.compiled.costs;
        match &request.operation {
            Operation::ListContexts => costs.list,
            Operation::BatchRead(ids) => {
                let ids = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                costs.batch_per_id.saturating_mul(ids.max(1))
            }
            Operation::JsonRpc(rpc) => rpc
                .messages
                .iter()
                .map(|message| match message {
                    RpcMessage::Call(call) if call.method.ends_with("/list") => costs.list,
                    _ => costs.rpc_call,
                })
                .fold(0, u32::saturating_add),
            _ => costs.read,
        }
    }
}

impl RateLimits {
    /// The bucket of a client address: the IPv4 address, or the IPv6 address's prefix
    /// (`ipv6_prefix` bits, default /64: one host usually owns a whole /64, so a finer key
    /// would let it rotate addresses). `None` when the address is unknown.
    pub(crate) fn address_key(&self, addr: Option<&ClientAddr>) -> Option<String> {
        use std::fmt::Write as _;
        // Sized for the longest IPv6 prefix: one allocation, no growth.
        let mut key = String::with_capacity(48);
        match addr?.0.ip().to_canonical() {
            IpAddr::V4(v4) => write!(key, "a:{v4}"),
            IpAddr::V6(v6) => {
                let bits = u32::from(self.compiled.ipv6_prefix);
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                let prefix = std::net::Ipv6Addr::from(u128::from(v6) & mask);
                write!(key, "a:{prefix}/{bits}")
            }
        }
        .ok()?;
        Some(key)
    }
}

/// The principal and the client address of a request, as earlier layers left them.
pub(crate) fn caller(extensions: &Extensions) -> (Option<&Principal>, Option<&ClientAddr>) {
    (
        extensions.get::<Principal>(),
        extensions.get::<ClientAddr>(),
    )
}

impl RateLimitConfig {
    /// Validates and builds the limits with the in-process store.
    pub fn build(self) -> Result<RateLimits, ConfigError> {
        let max_keys = self.max_keys.unwrap_or(DEFAULT_MAX_KEYS);
        if max_keys == 0 || max_keys > MAX_KEYS_LIMIT {
            return Err(ConfigError::new(format!(
                "max_keys must be between 1 and {MAX_KEYS_LIMIT}"
            )));
        }
        let compiled = self.compile()?;
        let store = Arc::new(MemoryStore::new(&compiled.quotas, max_keys));
        Ok(RateLimits::new(compiled, store))
    }

    /// Validates and builds the limits over `store` (a shared store, for instance).
    pub fn build_with_store(
        self,
        store: Arc<dyn RateLimitStore>,
    ) -> Result<RateLimits, ConfigError> {
        Ok(RateLimits::new(self.compile()?, store))
    }

    fn compile(self) -> Result<Compiled, ConfigError> {
        let mut quotas = Vec::new();
        for (name, quota) in &self.quotas {
            if name == PER_ADDRESS_QUOTA || name == FAILED_AUTH_QUOTA {
                return Err(ConfigError::new(format!(
                    "quotas.{name}: the name is reserved (use the `{}` section)",
                    name.replace('-', "_")
                )));
            }
            quotas.push(quota.quota(name, &format!("quotas.{name}"))?);
        }
        let index_of = |name: &str, field: &str| {
            quotas
                .iter()
                .position(|quota| quota.name() == name)
                .ok_or_else(|| {
                    ConfigError::new(format!("{field} names {name:?}, which is not a quota"))
                })
        };
        let default = match &self.default {
            Some(name) => Some(index_of(name, "default")?),
            None if !quotas.is_empty() => {
                return Err(ConfigError::new(
                    "default: name the quota of principals no rule matches",
                ));
            }
            None => None,
        };
        let mut rules = Vec::with_capacity(self.rules.len());
        for (position, rule) in self.rules.into_iter().enumerate() {
            let field = format!("rules[{position}]");
            let quota = index_of(&rule.quota, &format!("{field}.quota"))?;
            if rule.principals.is_empty() && rule.roles.is_empty() && rule.attributes.is_empty() {
                return Err(ConfigError::new(format!(
                    "{field} names no principal, role or attribute: it would match everyone (use `default`)"
                )));
            }
            check_identities(&rule.principals, &format!("{field}.principals"))?;
            rules.push(QuotaMatch {
                quota,
                principals: rule.principals,
                roles: rule.roles,
                attributes: rule.attributes,
            });
        }
        check_identities(&self.exempt.principals, "exempt.principals")?;
        let ipv6_prefix = self.ipv6_prefix.unwrap_or(DEFAULT_IPV6_PREFIX);
        // Finer than /64 lets one host rotate addresses; much coarser locks out a provider.
        if !(40..=64).contains(&ipv6_prefix) {
            return Err(ConfigError::new("ipv6_prefix must be between 40 and 64"));
        }
        let costs = self.costs;
        for (field, cost) in [
            ("costs.read", costs.read),
            ("costs.list", costs.list),
            ("costs.batch_per_id", costs.batch_per_id),
            ("costs.rpc_call", costs.rpc_call),
        ] {
            if cost == 0 || cost > MAX_COST {
                return Err(ConfigError::new(format!(
                    "{field} must be between 1 and {MAX_COST}"
                )));
            }
        }
        let mut extra = |config: Option<QuotaConfig>, name: &str, field: &str| {
            config
                .map(|config| {
                    quotas.push(config.quota(name, field)?);
                    Ok(quotas.len() - 1)
                })
                .transpose()
        };
        let per_address = extra(self.per_address, PER_ADDRESS_QUOTA, "per_address")?;
        let failed_auth = extra(self.failed_auth, FAILED_AUTH_QUOTA, "failed_auth")?;
        for (index, quota) in quotas.iter_mut().enumerate() {
            quota.index = index;
        }
        Ok(Compiled {
            quotas,
            rules,
            default,
            exempt: self.exempt,
            costs,
            per_address,
            failed_auth,
            ipv6_prefix,
            on_store_error: self.on_store_error,
        })
    }
}

/// Default IPv6 prefix of an address key.
const DEFAULT_IPV6_PREFIX: u8 = 64;

/// Every entry must be a principal identity, `"<method>:<subject>"`, of an authenticated
/// caller (anonymous callers are keyed by address, and get the `default` quota).
fn check_identities(identities: &[String], field: &str) -> Result<(), ConfigError> {
    for (position, identity) in identities.iter().enumerate() {
        let anonymous = identity.starts_with(&format!("{}:", AuthMethod::Anonymous.as_str()));
        if anonymous {
            return Err(ConfigError::new(format!(
                "{field}[{position}]: anonymous callers are not principals here; they get the `default` quota by client address"
            )));
        }
        if !AuthMethod::is_identity(identity) {
            let methods: Vec<_> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
            return Err(ConfigError::new(format!(
                "{field}[{position}]: {identity:?} is not \"<method>:<subject>\" with a method of {}",
                methods.join(", ")
            )));
        }
    }
    Ok(())
}
