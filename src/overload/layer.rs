//! [`OverloadLayer`] and its settings.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tower_layer::Layer;

use super::service::OverloadService;
use crate::error::{ConfigError, DialectDetector};
use crate::mcp::Endpoint;

/// Default most requests running at once.
pub const DEFAULT_MAX_CONCURRENT: usize = 1024;
/// Default request deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// State shared by every clone of the layer and its services.
#[derive(Debug)]
pub(crate) struct OverloadShared {
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) timeout: Duration,
    pub(crate) detector: DialectDetector,
}

/// Sheds load past a concurrency limit and enforces a deadline. See the
/// [module documentation](crate::overload).
#[derive(Debug, Clone)]
pub struct OverloadLayer {
    shared: Arc<OverloadShared>,
}

impl Default for OverloadLayer {
    fn default() -> Self {
        Self::builder()
            .build()
            .expect("the default settings are valid")
    }
}

impl OverloadLayer {
    /// A builder starting from the defaults (1024 at once, 30 s).
    pub fn builder() -> OverloadLayerBuilder {
        OverloadLayerBuilder {
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            timeout: DEFAULT_TIMEOUT,
            endpoint: None,
        }
    }

    /// This layer (same limit, same slots) for `endpoint`'s dialects: how the stack gives it
    /// the endpoint description.
    pub(crate) fn with_endpoint(&self, endpoint: &Endpoint) -> Self {
        Self {
            shared: Arc::new(OverloadShared {
                slots: Arc::clone(&self.shared.slots),
                timeout: self.shared.timeout,
                detector: endpoint.dialect_detector().clone(),
            }),
        }
    }
}

/// Builder of [`OverloadLayer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct OverloadLayerBuilder {
    max_concurrent: usize,
    timeout: Duration,
    endpoint: Option<Endpoint>,
}

impl OverloadLayerBuilder {
    /// Most requests running at once (default 1024); one more gets 503 at once.
    pub fn max_concurrent(mut self, max: usize) -> Self {
        self.max_concurrent = max;
        self
    }

    /// Deadline of every request (default 30 s); past it, 504.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The endpoint whose dialects refusals answer in (default [`Endpoint::default`]).
    pub fn endpoint(mut self, endpoint: &Endpoint) -> Self {
        self.endpoint = Some(endpoint.clone());
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<OverloadLayer, ConfigError> {
        if self.max_concurrent == 0 || self.max_concurrent > Semaphore::MAX_PERMITS {
            return Err(ConfigError::new(format!(
                "overload max_concurrent must be between 1 and {}",
                Semaphore::MAX_PERMITS
            )));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                "overload timeout must be longer than zero",
            ));
        }
        Ok(OverloadLayer {
            shared: Arc::new(OverloadShared {
                slots: Arc::new(Semaphore::new(self.max_concurrent)),
                timeout: self.timeout,
                detector: self.endpoint.unwrap_or_default().dialect_detector().clone(),
            }),
        })
    }
}

impl<S> Layer<S> for OverloadLayer {
    type Service = OverloadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OverloadService::new(inner, Arc::clone(&self.shared))
    }
}
