//! Rate limits: per-principal quotas with the IETF `RateLimit` header fields, a limit by
//! client address before authentication, and a limit of failed authentications.
//!
//! - [`RateLimitLayer`] (after authentication) charges the principal's quota what the
//!   request costs: a context read 1, a listing 5, a REST batch one per id, a JSON-RPC
//!   request the sum of its messages, charged as a whole before any of them runs
//!   ([`Costs`]). When the cost is in the body, one unit is spent before the body is read
//!   (so nobody holds more requests open than its quota allows) and the rest once it is
//!   classified; a malformed body keeps that unit spent, a request refused once read gets
//!   it back (so `Retry-After` is the wait for its whole cost). The quota is the
//!   first [`QuotaRule`] that matches the principal's identity (`"ApiKey:alice"`), roles or
//!   attributes, else the `default` quota (an unknown role gets the default too); exempt
//!   principals are never limited. Anonymous callers are charged by client address (all
//!   of them together when there is none).
//! - [`AddressLimitLayer`] (before authentication) charges each client address one unit
//!   per request (`per_address`), and holds one unit of the `failed_auth` quota while a
//!   request is authenticated: it comes back as soon as the request gets past
//!   authentication, and stays spent when the answer is a refused credential (401 with
//!   `error="invalid_token"`, or gRPC status 16 with it; asking without credentials is no
//!   failure; a request cut off before its answer gives it back). So guesses in flight
//!   count, and an address that used up the quota is refused before its credentials are
//!   checked — everyone behind it (a NAT, one IPv6 prefix) included. A request refused only
//!   because others of its address are still being authenticated waits for them (up to
//!   5 s) instead: a slow authenticator does not turn valid requests into refusals. Addresses come from
//!   [`ClientAddr`](crate::client_addr::ClientAddr) (trusted proxies are resolved there; a
//!   spoofed `X-Forwarded-For` changes nothing); an IPv6 client is keyed by its /64
//!   (`ipv6_prefix`, 40 to 64, to widen). Without client addresses both limits are off (and a warning
//!   says so once): one shared bucket would let one attacker lock everybody out.
//! - Every answer on a limited route carries `RateLimit-Policy: "guest";q=60;w=60` and
//!   `RateLimit: "guest";r=12;t=5` (draft-ietf-httpapi-ratelimit-headers: `r` units left,
//!   `t` seconds until the quota is whole again). A refusal is 429 `RATE_LIMITED` in the
//!   request's dialect (REST JSON; JSON-RPC with the request's id, or `null` for a batch
//!   and for a refusal made before the body was read; gRPC `RESOURCE_EXHAUSTED`) with
//!   `Retry-After` in whole seconds (at least 1). A request costing more than the quota's
//!   burst can never pass: 413 `PAYLOAD_TOO_LARGE`, with the fields, without `Retry-After`.
//! - The limit is a GCRA ([governor](https://docs.rs/governor)). State is shared by every
//!   clone of the layers and lives behind [`RateLimitStore`]; the in-process store keeps at
//!   most about `max_keys` buckets (default 1,000,000, about 65 MB), drops refilled buckets
//!   as traffic passes, and at the cap makes room with a refilled bucket, else the one
//!   closest to refilled among the oldest (so a lockout is the last to go);
//!   [`StoreStats::evicted_active`] counts callers who got a fresh burst that way.
//!
//! ```
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::mcp::McpService;
//! use mcp_bastion::rate_limit::{AddressLimitLayer, QuotaConfig, QuotaRule, RateLimitConfig, RateLimitLayer};
//! use tower::ServiceBuilder;
//!
//! let limits = RateLimitConfig::default()
//!     .quota("guest", 60, 60, 10)
//!     .quota("developer", 600, 60, 50)
//!     .rule(QuotaRule::role("developer", "developer"))
//!     .default_quota("guest")
//!     .exempt_role("admin")
//!     .failed_auth(QuotaConfig::new(10, 60).burst(5))
//!     .build()?;
//! let service = ServiceBuilder::new()
//!     .layer(AddressLimitLayer::new(&limits))
//!     // .layer(auth) — the principal's quota needs the principal
//!     .layer(RateLimitLayer::new(&limits))
//!     .service(McpService::new(StaticSource::new()));
//! # let _ = service;
//! # Ok::<(), mcp_bastion::error::ConfigError>(())
//! ```

mod address;
mod config;
mod future;
mod headers;
mod layer;
mod limits;
mod memory;
mod outcome;
mod quota;
mod reservation;
mod service;
mod store;

pub use address::AddressLimitService;
pub use config::{
    Costs, Exempt, FAILED_AUTH_QUOTA, PER_ADDRESS_QUOTA, QuotaConfig, QuotaRule, RateLimitConfig,
    StoreFailure,
};
pub use future::ResponseFuture;
pub use headers::{RATELIMIT, RATELIMIT_POLICY};
pub use layer::{AddressLimitLayer, RateLimitLayer};
pub use limits::RateLimits;
pub use memory::DEFAULT_MAX_KEYS;
pub use quota::{MAX_WINDOW_SECONDS, Quota};
pub use service::RateLimitService;
pub use store::{
    Pending, PendingVerdict, RateLimitStore, StoreAnswer, StoreError, StoreStats, Verdict,
};

#[cfg(test)]
mod tests;
