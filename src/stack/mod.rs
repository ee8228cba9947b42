//! [`Stack`]: the recommended order of the layers, assembled from one [`Endpoint`].
//!
//! Outermost first: observe (request id, span, access log) → (response compression) → error
//! envelope → (request decompression) → load shedding
//! and deadline → client address → limits
//! by address (per-address quota, failed authentications) → (invalidation webhook) →
//! authentication → rate limit by principal → policy → context cache (when configured) →
//! your service (usually [`McpService`]). The cache sits after the policy, so a context is never served from it to
//! a request the policy did not allow; the rate limit sits before both, so a cached answer
//! is charged too. Every
//! layer gets the same endpoint description; nothing is configured twice.
//!
//! ```
//! use mcp_bastion::auth::{ApiKey, ApiKeyStore, AuthLayer};
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::mcp::{Endpoint, ResourceMetadata};
//! use mcp_bastion::policy::{Policy, PolicyHandle};
//! use mcp_bastion::principal::{AuthMethod, Principal};
//! use mcp_bastion::stack::Stack;
//!
//! let endpoint = Endpoint::builder()
//!     .resource_metadata(ResourceMetadata::new("http://127.0.0.1:3000/mcp")?)
//!     .build()?;
//! let keys = ApiKeyStore::new([ApiKey::new(
//!     "user-dev-token",
//!     Principal::new("devUser", AuthMethod::ApiKey).with_role("developer"),
//! )?])?;
//! let policy = PolicyHandle::new(Policy::from_toml(r#"
//!     roles = ["developer"]
//!     [[rules]]
//!     id = "developers-read"
//!     effect = "allow"
//!     roles = ["developer"]
//!     actions = ["read", "list"]
//!     contexts = ["**"]
//! "#)?);
//! let service = Stack::new(endpoint)
//!     .auth(AuthLayer::builder().api_keys(keys))
//!     .policy(policy)
//!     .serve_source(StaticSource::new())?;
//! // Serve it: mcp_bastion::server::serve(listener, service, shutdown), or nest it in axum.
//! # let _ = service;
//! # Ok::<(), mcp_bastion::error::ConfigError>(())
//! ```
//!
//! Power users compose the same layers with `tower::ServiceBuilder` (each takes
//! `.endpoint(&endpoint)`), or put [`StackLayer`] in front of any other MCP server.

#[cfg(feature = "axum")]
mod axum;

use tower_layer::Layer;

use crate::auth::{Auth, AuthLayer, AuthLayerBuilder};
use crate::cache::{ContextCacheLayer, ContextCacheService, InvalidationWebhook, WebhookRoute};
use crate::client_addr::{ClientAddrLayer, ClientAddrService, TrustedProxies};
#[cfg(feature = "compression")]
use crate::compression::{
    Compression, CompressionConfig, CompressionLayer, RequestDecompression,
    RequestDecompressionLayer,
};
use crate::context::ContextSource;
use crate::envelope::{ErrorEnvelope, ErrorEnvelopeLayer};
use crate::error::ConfigError;
use crate::mcp::{Endpoint, McpService};
use crate::observe::{ObserveLayer, ObserveService};
use crate::overload::{OverloadLayer, OverloadService};
use crate::policy::{PolicyHandle, PolicyLayer, PolicyService};
use crate::rate_limit::{
    AddressLimitLayer, AddressLimitService, RateLimitConfig, RateLimitLayer, RateLimitService,
    RateLimits,
};

/// Assembles the recommended stack. See the [module documentation](self).
#[derive(Debug)]
#[must_use]
pub struct Stack {
    endpoint: Endpoint,
    auth: Option<AuthLayerBuilder>,
    policy: Option<PolicyHandle>,
    cache: Option<ContextCacheLayer>,
    webhook: Option<InvalidationWebhook>,
    overload: Option<OverloadLayer>,
    rate_limits: Option<RateLimits>,
    proxies: TrustedProxies,
    #[cfg(feature = "compression")]
    compression: Option<CompressionConfig>,
}

/// The layers of a [`Stack`], in order, ready to wrap a service.
#[derive(Debug, Clone)]
pub struct StackLayer {
    observe: ObserveLayer,
    envelope: ErrorEnvelopeLayer,
    client_addr: ClientAddrLayer,
    auth: AuthLayer,
    policy: PolicyLayer,
    cache: ContextCacheLayer,
    webhook: Option<InvalidationWebhook>,
    overload: OverloadLayer,
    address_limit: AddressLimitLayer,
    rate_limit: RateLimitLayer,
    #[cfg(feature = "compression")]
    compression: CompressionLayer,
    #[cfg(feature = "compression")]
    decompression: RequestDecompressionLayer,
}

/// The layers from load shedding inward.
type Guarded<S> = OverloadService<
    ClientAddrService<
        AddressLimitService<
            WebhookRoute<Auth<RateLimitService<PolicyService<ContextCacheService<S>>>>>,
        >,
    >,
>;

/// A service wrapped by [`StackLayer`].
#[cfg(not(feature = "compression"))]
pub type StackService<S> = ObserveService<ErrorEnvelope<Guarded<S>>>;

/// A service wrapped by [`StackLayer`] (with feature `compression`: response compression just
/// inside observe, request decompression just inside the error envelope).
#[cfg(feature = "compression")]
pub type StackService<S> =
    ObserveService<Compression<ErrorEnvelope<RequestDecompression<Guarded<S>>>>>;

impl Stack {
    /// A stack for `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            auth: None,
            policy: None,
            cache: None,
            webhook: None,
            overload: None,
            rate_limits: None,
            proxies: TrustedProxies::default(),
            #[cfg(feature = "compression")]
            compression: None,
        }
    }

    /// How callers authenticate (the stack gives it the endpoint). Required: for an open
    /// server, say so with `AuthLayer::builder().allow_anonymous(true)`.
    pub fn auth(mut self, auth: AuthLayerBuilder) -> Self {
        self.auth = Some(auth);
        self
    }

    /// What each caller may do. Required: the policy denies what no rule allows.
    pub fn policy(mut self, policy: PolicyHandle) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Cache context reads behind the policy (default: no cache). Keep
    /// [`ContextCacheLayer::handle`] to invalidate; the stack gives the cache its endpoint.
    pub fn cache(mut self, cache: ContextCacheLayer) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Serve this signed invalidation webhook at
    /// [`DEFAULT_WEBHOOK_PATH`](crate::cache::DEFAULT_WEBHOOK_PATH), outside authentication
    /// (it checks its own signature) but inside the limits by client address; see [`CacheHandle::webhook`](crate::cache::CacheHandle::webhook).
    pub fn invalidation_webhook(mut self, webhook: InvalidationWebhook) -> Self {
        self.webhook = Some(webhook);
        self
    }

    /// Load shedding and the request deadline (default [`OverloadLayer::default`]: 1024
    /// requests at once, 30 s), just inside the error envelope so a busy server spends
    /// nothing on what it refuses.
    pub fn overload(mut self, overload: OverloadLayer) -> Self {
        self.overload = Some(overload);
        self
    }

    /// Quotas by principal (after authentication) and by client address (before it), from
    /// one [`RateLimits`] (default: no limits). Keep a clone to read its
    /// [`stats`](RateLimits::stats).
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = Some(limits);
        self
    }

    /// Believe `Forwarded` / `X-Forwarded-For` from these proxies (default: none).
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Compress responses and accept compressed request bodies (feature `compression`;
    /// default: neither). Responses are compressed on the way out, after the error envelope,
    /// the policy's listing filter and the cache have seen identity bodies; with a cache,
    /// context reads are served from encoded variants it stores (each compressed once, see
    /// [`ContextCacheLayer::encoded_variants`]). Request bodies are decoded before anything
    /// reads them, within the endpoint's body limit. See [`compression`](crate::compression).
    #[cfg(feature = "compression")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
    pub fn compression(mut self, config: CompressionConfig) -> Self {
        self.compression = Some(config);
        self
    }

    /// The endpoint description the stack was made for.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Builds every layer; errors name what is missing or invalid.
    pub fn layer(self) -> Result<StackLayer, ConfigError> {
        let auth = self.auth.ok_or_else(|| {
            ConfigError::new(
                "Stack needs .auth(...): AuthLayer::builder() with authenticators, or .allow_anonymous(true) for an open server",
            )
        })?;
        let policy = self
            .policy
            .ok_or_else(|| ConfigError::new("Stack needs .policy(...): a PolicyHandle"))?;
        let limits = match self.rate_limits {
            Some(limits) => limits,
            None => RateLimitConfig::default().build()?,
        };
        #[cfg(feature = "compression")]
        let (compression, decompression) = match self.compression {
            Some(config) => (
                CompressionLayer::new(config),
                RequestDecompressionLayer::new(config).with_endpoint(&self.endpoint),
            ),
            None => (
                CompressionLayer::disabled(),
                RequestDecompressionLayer::disabled(),
            ),
        };
        Ok(StackLayer {
            #[cfg(feature = "compression")]
            compression,
            #[cfg(feature = "compression")]
            decompression,
            observe: ObserveLayer::new(),
            address_limit: AddressLimitLayer::new(&limits).endpoint(&self.endpoint),
            rate_limit: RateLimitLayer::new(&limits).endpoint(&self.endpoint),
            envelope: ErrorEnvelopeLayer::for_endpoint(&self.endpoint),
            client_addr: ClientAddrLayer::new().trusting(self.proxies),
            auth: auth.endpoint(&self.endpoint).build()?,
            policy: PolicyLayer::builder(policy)
                .endpoint(&self.endpoint)
                .build()?,
            cache: self.cache.map_or_else(
                || ContextCacheLayer::disabled(&self.endpoint),
                |cache| {
                    let cache = cache.with_endpoint(&self.endpoint);
                    // Behind this stack's compression layer: serve stored encoded variants.
                    #[cfg(feature = "compression")]
                    let cache = match self.compression {
                        Some(config) => cache.encoded_variants(config),
                        None => cache,
                    };
                    cache
                },
            ),
            webhook: self.webhook,
            overload: self
                .overload
                .unwrap_or_default()
                .with_endpoint(&self.endpoint),
        })
    }

    /// The stack in front of `inner` (an rmcp server, an axum router, ...).
    pub fn service<S>(self, inner: S) -> Result<StackService<S>, ConfigError> {
        Ok(self.layer()?.layer(inner))
    }

    /// The stack in front of [`McpService`] serving `source`, with the same endpoint.
    pub fn serve_source<C: ContextSource>(
        self,
        source: C,
    ) -> Result<StackService<McpService<C>>, ConfigError> {
        let endpoint = self.endpoint.clone();
        self.service(McpService::with_endpoint(source, endpoint))
    }
}

impl<S> Layer<S> for StackLayer {
    type Service = StackService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let cache = self.cache.layer(inner);
        let policy = self.policy.layer(cache);
        let rate_limit = self.rate_limit.layer(policy);
        let auth = self.auth.layer(rate_limit);
        let route = WebhookRoute::new(auth, self.webhook.clone());
        let address_limit = self.address_limit.layer(route);
        let client_addr = self.client_addr.layer(address_limit);
        let overload = self.overload.layer(client_addr);
        #[cfg(feature = "compression")]
        let overload = self.decompression.layer(overload);
        let envelope = self.envelope.layer(overload);
        #[cfg(feature = "compression")]
        let envelope = self.compression.layer(envelope);
        self.observe.layer(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    #[test]
    fn missing_parts_are_named() {
        let policy = || PolicyHandle::new(Policy::from_toml("roles = []").unwrap());
        let err = Stack::new(Endpoint::default())
            .policy(policy())
            .layer()
            .unwrap_err();
        assert!(err.message().contains(".auth"), "{err}");
        let err = Stack::new(Endpoint::default())
            .auth(AuthLayer::builder().allow_anonymous(true))
            .layer()
            .unwrap_err();
        assert!(err.message().contains(".policy"), "{err}");
        assert!(
            Stack::new(Endpoint::default())
                .auth(AuthLayer::builder())
                .policy(policy())
                .layer()
                .is_err(),
            "an auth layer that admits nobody is refused"
        );
    }
}
