use std::sync::Arc;

use tower_layer::Layer;

use super::service::ErrorEnvelope;
use crate::error::DialectDetector;

/// Wraps a service so that every failure reaches the client as an envelope.
///
/// See the [module documentation](crate::envelope).
#[derive(Debug, Clone, Default)]
pub struct ErrorEnvelopeLayer {
    detector: Arc<DialectDetector>,
}

impl ErrorEnvelopeLayer {
    /// The layer with the default detector (`/mcp` is JSON-RPC).
    pub fn new() -> Self {
        Self::default()
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
