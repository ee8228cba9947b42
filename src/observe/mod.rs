//! [`ObserveLayer`]: request ids, a span per request, and exactly one access-log event per
//! request. Put it outermost (the [`Stack`](crate::stack::Stack) does), so it sees every
//! answer, refusals included.
//!
//! - **Request id**: a caller's `x-request-id` is kept when it is 1 to 128 characters of
//!   `[A-Za-z0-9._-]` (one header); anything else is replaced, never echoed, by a new UUIDv7.
//!   The id is on the request for the layers below (error envelopes quote it as `requestId`,
//!   `data.requestId` in JSON-RPC), on the answer, and on every log event of the request
//!   (the `request` span carries it).
//! - **Access log**: one event at INFO, target `mcp_bastion::access`, when the answer has
//!   been sent (or was cut off, or failed): request id, client address, principal, method,
//!   path, `mcp.method.name` and `mcp.target`, deciding policy rule, status, error code, cache
//!   status, bytes, duration. The layers below record what they learn in the request's
//!   [`RequestFacts`](crate::facts::RequestFacts).
//! - **Metrics** (feature `metrics`): request counts, latency, in-flight, refusals by kind,
//!   cache results and context sizes through the `metrics` facade; see `metrics` for the
//!   names and `MetricsService` to serve them to Prometheus.
//! - Logging is the subscriber's business, and must not be what limits throughput:
//!   [`JsonLines`] formats JSON lines without re-parsing span fields, and [`LogWriter`]
//!   writes them in batches from a background thread, so that a slow terminal never slows
//!   requests. The demo server uses both.
//!
//! ```
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::envelope::ErrorEnvelopeLayer;
//! use mcp_bastion::mcp::McpService;
//! use mcp_bastion::observe::ObserveLayer;
//! use tower::ServiceBuilder;
//!
//! let service = ServiceBuilder::new()
//!     .layer(ObserveLayer::new())
//!     .layer(ErrorEnvelopeLayer::new())
//!     .service(McpService::new(StaticSource::new()));
//! # let _ = service;
//! ```

mod access;
mod body;
mod json_lines;
mod log_writer;
/// The metric names and recorder set-up (the crate's [`metrics`] module; the
/// endpoint records its source calls there too).
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use crate::metrics;
mod request_id;
#[cfg(feature = "metrics")]
mod scrape;
mod service;

use tower_layer::Layer;

#[cfg(feature = "metrics")]
pub use crate::metrics::{install_prometheus, register_with_recorder};
pub use body::ObservedBody;
pub use json_lines::JsonLines;
pub use log_writer::{
    DEFAULT_MAX_PENDING_BYTES, FLUSH_ON_DROP_TIMEOUT, LogLine, LogWriter, LogWriterGuard,
};
pub use request_id::{MAX_REQUEST_ID_LEN, X_REQUEST_ID};
#[cfg(feature = "metrics")]
pub use scrape::{MAX_CONCURRENT_SCRAPES, MetricsService};
pub use service::{ObserveService, ResponseFuture};

/// Request ids, the request span and the access log. See the [module documentation](self).
#[derive(Debug, Clone, Default)]
pub struct ObserveLayer {
    _private: (),
}

impl ObserveLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = ObserveService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveService::new(inner)
    }
}

#[cfg(test)]
mod tests;
