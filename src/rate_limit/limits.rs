//! [`RateLimits`]: the validated configuration and its store, shared by the layers; who gets
//! which quota, what a request costs, and whose bucket it is.

use std::net::IpAddr;
use std::sync::Arc;

use http::Extensions;
use serde_json::Value;

use super::config::{Costs, Exempt, StoreFailure};
use super::quota::Quota;
use super::store::{RateLimitStore, StoreStats};
use crate::client_addr::ClientAddr;
use crate::mcp::{McpRequest, Operation, RpcMessage};
use crate::principal::Principal;

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
            if exempt.principals.iter().any(|p| p == identity)
                || exempt.roles.iter().any(|role| principal.has_role(role))
            {
                return Charge::Exempt;
            }
        }
        let chosen = principal
            .zip(identity.as_deref())
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
        let key = match identity {
            Some(identity) => format!("p:{identity}"),
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
        Some(match addr?.0.ip().to_canonical() {
            IpAddr::V4(v4) => format!("a:{v4}"),
            IpAddr::V6(v6) => {
                let bits = u32::from(self.compiled.ipv6_prefix);
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                let prefix = std::net::Ipv6Addr::from(u128::from(v6) & mask);
                format!("a:{prefix}/{bits}")
            }
        })
    }
}

/// The principal and the client address of a request, as earlier layers left them.
pub(crate) fn caller(extensions: &Extensions) -> (Option<&Principal>, Option<&ClientAddr>) {
    (
        extensions.get::<Principal>(),
        extensions.get::<ClientAddr>(),
    )
}
