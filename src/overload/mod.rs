//! [`OverloadLayer`]: when the server is busy, say so at once; when a request takes too long,
//! stop it.
//!
//! - **Load shedding.** At most `max_concurrent` requests run at once (shared by every clone
//!   of the service). One more is answered at once with 503 `UNAVAILABLE` and
//!   `Retry-After: 1` in its dialect: it never waits, and `poll_ready` never holds it
//!   `Pending` (which would stall it behind axum).
//! - **Deadline.** Every request gets [`Deadline`](crate::context::Deadline) in its
//!   extensions (handed to the context source as `SourceRequest::deadline`); past it the
//!   answer is 504 `TIMEOUT` and the work is dropped. The deadline is a Tokio timer: the
//!   runtime needs its time driver (`#[tokio::main]` and `Runtime::new` enable it).
//!
//! ```
//! use std::time::Duration;
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::mcp::McpService;
//! use mcp_bastion::overload::OverloadLayer;
//! use tower::ServiceBuilder;
//!
//! let overload = OverloadLayer::builder()
//!     .max_concurrent(256)
//!     .timeout(Duration::from_secs(10))
//!     .build()?;
//! let service = ServiceBuilder::new()
//!     .layer(overload)
//!     .service(McpService::new(StaticSource::new()));
//! # let _ = service;
//! # Ok::<(), mcp_bastion::error::ConfigError>(())
//! ```

mod layer;
mod service;

pub use layer::{DEFAULT_MAX_CONCURRENT, DEFAULT_TIMEOUT, OverloadLayer, OverloadLayerBuilder};
pub use service::OverloadService;

#[cfg(test)]
mod tests;
