//! The client side (feature `client`): [`McpClient`], a ready client of an MCP server's REST
//! routes and MCP endpoint (see [`mcp`]), and the tower layers it is made of, which give any
//! HTTP client service the resilience an MCP server's callers need.
//!
//! - [`RetryLayer`]: retries of transient failures (transport errors, 429, 502, 503, 504) for
//!   idempotent requests only, exponential backoff with full jitter, `Retry-After`
//!   honoured, a retry budget shared by clones.
//! - [`CircuitBreakerLayer`]: closed / open / half-open over the failure ratio of a sliding
//!   window; open fails fast with [`CircuitOpen`].
//! - [`BearerLayer`]: `Authorization: Bearer …` from a token the application can replace
//!   (refresh) at any time; [`TraceparentLayer`]: the W3C trace context sent on.
//! - [`ClientCacheLayer`]: keeps `GET` answers by URI and credential; fresh ones are served
//!   from memory, stale ones revalidated (`304` reuses the stored body).
//! - Deadlines: tower's `TimeoutLayer`, inside [`RetryLayer`] for each attempt (a timed-out
//!   attempt of an idempotent request is retried) and outside it for the whole call.
//!
//! A resilient stack, outermost first. The cache sits inside the bearer layer (its key
//! must see the credential) and outside the breaker and retries (a fresh answer needs
//! neither, and still serves while the circuit is open):
//!
//! ```
//! use std::time::Duration;
//! use mcp_bastion::client::{
//!     BearerLayer, CircuitBreakerLayer, ClientCacheLayer, RetryLayer, TraceparentLayer,
//! };
//! use tower::ServiceBuilder;
//! use tower::timeout::TimeoutLayer;
//!
//! # type Body = http_body_util::Full<bytes::Bytes>;
//! # fn stack<S>(http: S) -> Result<(), Box<dyn std::error::Error>>
//! # where S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
//! #       S::Future: Send,
//! #       S::Error: Into<mcp_bastion::error::BoxError> {
//! let client = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(Duration::from_secs(30))) // the whole call, retries included
//!     .layer(BearerLayer::new("user-dev-token")?)
//!     .layer(TraceparentLayer::new())
//!     .layer(ClientCacheLayer::builder().build()?)
//!     .layer(CircuitBreakerLayer::builder().build()?)
//!     .layer(RetryLayer::builder().build()?)
//!     .layer(TimeoutLayer::new(Duration::from_secs(5))) // each attempt
//!     .service(http);
//! # let _ = client;
//! # Ok(())
//! # }
//! ```
//!
//! The layers take `http::Request`s and answer `http::Response`s, so they stack on
//! `hyper_util`'s client or any tower HTTP service.

mod bearer;
pub mod breaker;
pub mod cache;
pub mod mcp;
pub mod retry;
mod trace;

pub use bearer::{Bearer, BearerLayer, BearerToken};
pub use breaker::{CircuitBreakerLayer, CircuitBreakerLayerBuilder, CircuitOpen};
pub use cache::{CacheOutcome, ClientCacheLayer, ClientCacheLayerBuilder};
pub use mcp::{ClientError, McpClient, McpClientBuilder, ServerError};
pub use retry::{Idempotent, RetryLayer, RetryLayerBuilder, RetryPolicy};
pub use trace::{Traceparent, TraceparentLayer};

#[cfg(test)]
mod tests;
