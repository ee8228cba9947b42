use std::sync::Arc;

use tower_layer::Layer;

use super::service::ErrorEnvelope;
use crate::error::DialectDetector;
use crate::mcp::Endpoint;

/// Wraps a service so that every failure reaches the client as an envelope.
///
/// See the [module documentation](crate::envelope).
#[derive(Debug, Clone)]
pub struct ErrorEnvelopeLayer {
    detector: Arc<DialectDetector>,
}

impl Default for ErrorEnvelopeLayer {
    fn default() -> Self {
        Self::for_endpoint(&Endpoint::default())
    }
}

impl ErrorEnvelopeLayer {
    /// The layer for the default [`Endpoint`] (`/mcp` is JSON-RPC, `/context` REST).
    pub fn new() -> Self {
        Self::default()
    }

    /// The layer for `endpoint`: its paths tell the dialect of each failure.
    #[must_use]
    pub fn for_endpoint(endpoint: &Endpoint) -> Self {
        Self::with_detector(endpoint.dialect_detector().clone())
    }

    /// The layer with a custom dialect detector (e.g. another MCP path).
    #[must_use]
    pub fn with_detector(detector: DialectDetector) -> Self {
        Self {
            detector: Arc::new(detector),
        }
    }
}

impl<S> Layer<S> for ErrorEnvelopeLayer {
    type Service = ErrorEnvelope<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorEnvelope::new(inner, Arc::clone(&self.detector))
    }
}
