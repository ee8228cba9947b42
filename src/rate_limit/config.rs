//! [`RateLimitConfig`]: quotas, who gets which, what each operation costs; from TOML or a
//! builder, validated by [`RateLimitConfig::build`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::quota::Quota;
use crate::error::ConfigError;

/// The quota of callers before authentication, by client address.
pub const PER_ADDRESS_QUOTA: &str = "per-address";
/// The quota of failed authentications, by client address.
pub const FAILED_AUTH_QUOTA: &str = "failed-auth";

/// Rate-limit configuration, as written in TOML (a file of its own, or a `[rate_limit]`
/// section of yours: the type implements `Deserialize`) or with the builder methods.
///
/// ```
/// use mcp_bastion::rate_limit::RateLimitConfig;
///
/// let limits = RateLimitConfig::from_toml(r#"
///     default = "guest"
///     [quotas.guest]
///     requests = 60
///     window_seconds = 60
///     burst = 10
///     [quotas.developer]
///     requests = 600
///     window_seconds = 60
///     burst = 50
///     [[rules]]
///     quota = "developer"
///     roles = ["developer"]
///     [exempt]
///     roles = ["admin"]
///     [failed_auth]
///     requests = 10
///     window_seconds = 60
///     burst = 5
/// "#)?
/// .build()?;
/// assert_eq!(limits.quota("developer").unwrap().burst(), 50);
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Quotas by name.
    #[serde(default)]
    pub quotas: BTreeMap<String, QuotaConfig>,
    /// Which quota a principal gets: the first rule that matches, else `default`.
    #[serde(default)]
    pub rules: Vec<QuotaRule>,
    /// The quota of a principal no rule matches, of an unknown role, and of anonymous
    /// callers (keyed by client address). Required when there are quotas.
    pub default: Option<String>,
    /// Principals never limited.
    #[serde(default)]
    pub exempt: Exempt,
    /// What each operation costs.
    #[serde(default)]
    pub costs: Costs,
    /// A limit before authentication, by client address (every request costs 1).
    pub per_address: Option<QuotaConfig>,
    /// A limit of failed authentications by client address: past it, a client is refused
    /// before its credentials are checked (credential stuffing).
    pub failed_auth: Option<QuotaConfig>,
    /// Most buckets tracked at once (default 1,000,000, about 65 MB when all are used).
    pub max_keys: Option<usize>,
    /// How much of an IPv6 client address is its key (default 64: one host usually owns a
    /// whole /64; 48 or 56 counts a site as one client).
    pub ipv6_prefix: Option<u8>,
    /// What to do when the store cannot answer (a shared store that is down).
    #[serde(default)]
    pub on_store_error: StoreFailure,
}

/// A quota: `requests` units per `window_seconds`, at most `burst` at once (default:
/// `requests`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QuotaConfig {
    /// Units per window.
    pub requests: u32,
    /// The window, in seconds (1 to 86,400).
    pub window_seconds: u32,
    /// Most units at once.
    pub burst: Option<u32>,
}

impl QuotaConfig {
    /// `requests` per `window_seconds`, the whole of it available at once.
    pub fn new(requests: u32, window_seconds: u32) -> Self {
        Self {
            requests,
            window_seconds,
            burst: None,
        }
    }

    /// At most `burst` units at once.
    #[must_use]
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    pub(crate) fn quota(self, name: &str, field: &str) -> Result<Quota, ConfigError> {
        let burst = self.burst.unwrap_or(self.requests);
        Quota::checked(name, self.requests, self.window_seconds, burst, field)
    }
}

/// Gives `quota` to the principals it matches: every condition given must hold (one of the
/// listed principals, one of the listed roles, every listed attribute equal).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QuotaRule {
    /// The quota's name.
    pub quota: String,
    /// Principals by identity, `"<method>:<subject>"` (`Principal::identity`, e.g.
    /// `"ApiKey:backup-job"`), so a subject issued by one authenticator never names another's
    /// caller.
    #[serde(default)]
    pub principals: Vec<String>,
    /// Roles; any one of them matches.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Principal attributes that must all be equal.
    #[serde(default)]
    pub attributes: BTreeMap<String, Value>,
}

impl QuotaRule {
    /// `quota` for principals with `role`.
    pub fn role(quota: impl Into<String>, role: impl Into<String>) -> Self {
        Self {
            quota: quota.into(),
            roles: vec![role.into()],
            ..Self::default()
        }
    }

    /// `quota` for the principal whose identity is `identity` (`"Jwt:carol"`).
    pub fn principal(quota: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            quota: quota.into(),
            principals: vec![identity.into()],
            ..Self::default()
        }
    }

    /// `quota` for principals whose attribute `name` equals `value`.
    pub fn attribute(
        quota: impl Into<String>,
        name: impl Into<String>,
        value: impl Into<Value>,
    ) -> Self {
        let mut attributes = BTreeMap::new();
        attributes.insert(name.into(), value.into());
        Self {
            quota: quota.into(),
            attributes,
            ..Self::default()
        }
    }
}

/// Principals that are never limited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Exempt {
    /// Principals by identity, `"<method>:<subject>"` (e.g. `"ApiKey:backup-job"`).
    #[serde(default)]
    pub principals: Vec<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Units each operation costs (reads 1, lists 5, a REST batch 1 per id, by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Costs {
    /// A context read (REST `GET`, and any request no other cost names).
    pub read: u32,
    /// A REST listing, or one JSON-RPC `*/list` call.
    pub list: u32,
    /// Each id of a REST batch read.
    pub batch_per_id: u32,
    /// Each other JSON-RPC message of a request (a batch is charged as a whole).
    pub rpc_call: u32,
}

impl Default for Costs {
    fn default() -> Self {
        Self {
            read: 1,
            list: 5,
            batch_per_id: 1,
            rpc_call: 1,
        }
    }
}

/// Most units one operation may cost.
pub(crate) const MAX_COST: u32 = 10_000;

/// What the limiter does when its store fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StoreFailure {
    /// Let the request through (and log): availability first.
    #[default]
    Allow,
    /// Refuse with 503.
    Deny,
}

impl RateLimitConfig {
    /// Parses TOML (the fields of this type at the top level).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text)
            .map_err(|err| ConfigError::new(format!("invalid rate-limit configuration: {err}")))
    }

    /// Adds the quota `name`: `requests` per `window_seconds`, `burst` at once.
    #[must_use]
    pub fn quota(mut self, name: &str, requests: u32, window_seconds: u32, burst: u32) -> Self {
        self.quotas.insert(
            name.to_owned(),
            QuotaConfig::new(requests, window_seconds).burst(burst),
        );
        self
    }

    /// Adds a rule (after the ones already given).
    #[must_use]
    pub fn rule(mut self, rule: QuotaRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The quota of principals no rule matches.
    #[must_use]
    pub fn default_quota(mut self, name: &str) -> Self {
        self.default = Some(name.to_owned());
        self
    }

    /// Never limits principals with `role`.
    #[must_use]
    pub fn exempt_role(mut self, role: &str) -> Self {
        self.exempt.roles.push(role.to_owned());
        self
    }

    /// Never limits the principal whose identity is `identity` (`"ApiKey:backup-job"`).
    #[must_use]
    pub fn exempt_principal(mut self, identity: &str) -> Self {
        self.exempt.principals.push(identity.to_owned());
        self
    }

    /// What operations cost.
    #[must_use]
    pub fn costs(mut self, costs: Costs) -> Self {
        self.costs = costs;
        self
    }

    /// Limits every request by client address before authentication.
    #[must_use]
    pub fn per_address(mut self, quota: QuotaConfig) -> Self {
        self.per_address = Some(quota);
        self
    }

    /// Limits failed authentications by client address.
    #[must_use]
    pub fn failed_auth(mut self, quota: QuotaConfig) -> Self {
        self.failed_auth = Some(quota);
        self
    }

    /// Most buckets tracked at once.
    #[must_use]
    pub fn max_keys(mut self, max: usize) -> Self {
        self.max_keys = Some(max);
        self
    }

    /// How many leading bits of an IPv6 client address make its key (40 to 64).
    #[must_use]
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.ipv6_prefix = Some(bits);
        self
    }

    /// What to do when the store fails.
    #[must_use]
    pub fn on_store_error(mut self, failure: StoreFailure) -> Self {
        self.on_store_error = failure;
        self
    }
}
