use std::sync::Arc;

use tower_layer::Layer;

use super::handle::PolicyHandle;
use super::service::Authorize;
use crate::auth::ResourceMetadata;
use crate::context::ResourceUriMapping;
use crate::error::ConfigError;
use crate::mcp::DEFAULT_BODY_LIMIT;

/// Largest response body the layer reads to filter a listing.
pub const DEFAULT_LIST_RESPONSE_LIMIT: usize = 16 * 1024 * 1024;

/// Enforces a [`Policy`](super::Policy) on every request. See the
/// [module documentation](crate::policy).
#[derive(Debug, Clone)]
pub struct PolicyLayer {
    shared: Arc<PolicyShared>,
}

#[derive(Debug)]
pub(crate) struct PolicyShared {
    pub(crate) policy: PolicyHandle,
    pub(crate) mapping: ResourceUriMapping,
    pub(crate) mcp_path: String,
    pub(crate) body_limit: usize,
    pub(crate) response_limit: usize,
    pub(crate) metadata: Option<ResourceMetadata>,
}

impl PolicyShared {
    fn defaults(policy: PolicyHandle) -> Self {
        Self {
            policy,
            mapping: ResourceUriMapping::default(),
            mcp_path: "/mcp".to_owned(),
            body_limit: DEFAULT_BODY_LIMIT,
            response_limit: DEFAULT_LIST_RESPONSE_LIMIT,
            metadata: None,
        }
    }
}

impl PolicyLayer {
    /// The layer with defaults: MCP at `/mcp`, `ctx://` URIs, 1 MiB request bodies.
    pub fn new(policy: PolicyHandle) -> Self {
        Self {
            shared: Arc::new(PolicyShared::defaults(policy)),
        }
    }

    /// A builder starting from the defaults.
    pub fn builder(policy: PolicyHandle) -> PolicyLayerBuilder {
        PolicyLayerBuilder {
            shared: PolicyShared::defaults(policy),
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
    shared: PolicyShared,
}

impl PolicyLayerBuilder {
    /// How resource URIs map to context ids (use the endpoint's mapping).
    pub fn uri_mapping(mut self, mapping: ResourceUriMapping) -> Self {
        self.shared.mapping = mapping;
        self
    }

    /// Path of the MCP endpoint (default `/mcp`).
    pub fn mcp_path(mut self, path: impl Into<String>) -> Self {
        self.shared.mcp_path = path.into();
        self
    }

    /// Largest JSON-RPC body read to classify a request (default 1 MiB; larger: 413).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.shared.body_limit = bytes;
        self
    }

    /// Largest listing read for filtering (default 16 MiB; larger: 502).
    pub fn list_response_limit(mut self, bytes: usize) -> Self {
        self.shared.response_limit = bytes;
        self
    }

    /// Points 401/403 challenges at this resource metadata (RFC 9728).
    pub fn resource_metadata(mut self, metadata: ResourceMetadata) -> Self {
        self.shared.metadata = Some(metadata);
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<PolicyLayer, ConfigError> {
        if !self.shared.mcp_path.starts_with('/') {
            return Err(ConfigError::new("PolicyLayer mcp_path must start with '/'"));
        }
        if self.shared.body_limit == 0 || self.shared.response_limit == 0 {
            return Err(ConfigError::new(
                "PolicyLayer limits must be at least 1 byte",
            ));
        }
        Ok(PolicyLayer {
            shared: Arc::new(self.shared),
        })
    }
}

impl<S> Layer<S> for PolicyLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorize::new(inner, Arc::clone(&self.shared))
    }
}
