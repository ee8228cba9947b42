use std::sync::Arc;

use tower_layer::Layer;

use super::handle::PolicyHandle;
use super::service::PolicyService;
use crate::error::ConfigError;
use crate::mcp::Endpoint;

/// Largest response body the layer reads to filter a listing.
pub const DEFAULT_LIST_RESPONSE_LIMIT: usize = 16 * 1024 * 1024;

/// Enforces a [`Policy`](super::Policy) on every request. See the
/// [module documentation](crate::policy).
#[derive(Debug, Clone)]
pub struct PolicyLayer {
    shared: Arc<PolicyShared>,
}

/// State shared by every clone of the layer and its services.
#[derive(Debug)]
pub(crate) struct PolicyShared {
    pub(crate) policy: PolicyHandle,
    pub(crate) endpoint: Endpoint,
    pub(crate) response_limit: usize,
}

impl PolicyLayer {
    /// The layer for the default [`Endpoint`] (MCP at `/mcp`, REST under `/context`,
    /// `ctx://` URIs, 1 MiB request bodies).
    pub fn new(policy: PolicyHandle) -> Self {
        Self {
            shared: Arc::new(PolicyShared {
                policy,
                endpoint: Endpoint::default(),
                response_limit: DEFAULT_LIST_RESPONSE_LIMIT,
            }),
        }
    }

    /// A builder starting from the defaults.
    pub fn builder(policy: PolicyHandle) -> PolicyLayerBuilder {
        PolicyLayerBuilder {
            policy,
            endpoint: None,
            response_limit: DEFAULT_LIST_RESPONSE_LIMIT,
        }
    }

    /// The policy handle (for reloads and `explain`).
    pub fn policy(&self) -> &PolicyHandle {
        &self.shared.policy
    }
}

/// Builder of [`PolicyLayer`].
#[derive(Debug)]
#[must_use]
pub struct PolicyLayerBuilder {
    policy: PolicyHandle,
    endpoint: Option<Endpoint>,
    response_limit: usize,
}

impl PolicyLayerBuilder {
    /// The endpoint this layer guards (default: [`Endpoint::default`]): its paths, URI
    /// mapping and body limits classify requests, and its resource metadata is named by 401
    /// and 403 `insufficient_scope` challenges.
    pub fn endpoint(mut self, endpoint: &Endpoint) -> Self {
        self.endpoint = Some(endpoint.clone());
        self
    }

    /// Largest listing read for filtering (default 16 MiB; larger: 502).
    pub fn list_response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<PolicyLayer, ConfigError> {
        if self.response_limit == 0 {
            return Err(ConfigError::new(
                "PolicyLayer list_response_limit must be at least 1 byte",
            ));
        }
        Ok(PolicyLayer {
            shared: Arc::new(PolicyShared {
                policy: self.policy,
                endpoint: self.endpoint.unwrap_or_default(),
                response_limit: self.response_limit,
            }),
        })
    }
}

impl<S> Layer<S> for PolicyLayer {
    type Service = PolicyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PolicyService::new(inner, Arc::clone(&self.shared))
    }
}
