//! [`ErrorEnvelopeLayer`]: one error format for every failure below it.
//!
//! - A response carrying a [`Rejection`](crate::error::Rejection) (from any of our layers) is
//!   passed through, re-rendered to quote the request id (`x-request-id`) when there is one.
//! - An error response without an envelope (axum's plain-text 404/405, an empty 500 from some
//!   handler) is replaced by the envelope for its status, keeping its headers
//!   (`Allow`, `WWW-Authenticate`, `Retry-After`).
//! - `Err` from the inner service becomes an envelope: tower's `Elapsed` is 504 `TIMEOUT`,
//!   `Overloaded` is 503 `UNAVAILABLE`, anything else 500 `INTERNAL`; the error is logged,
//!   never sent. The layer's own error type is `Infallible`, as axum requires.
//! - A panic in the inner service becomes a 500 envelope, and the server keeps serving.
//!
//! The dialect (REST JSON, JSON-RPC, gRPC) is told from the path and content type by a
//! [`DialectDetector`](crate::error::DialectDetector).
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use bytes::Bytes;
//! use mcp_bastion::envelope::ErrorEnvelopeLayer;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let service = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::new())
//!     .service(service_fn(|_req: Request<Full<Bytes>>| async {
//!         Err::<Response<Full<Bytes>>, _>(tower::timeout::error::Elapsed::new())
//!     }));
//! let response = service.oneshot(Request::new(Full::default())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
//! # }
//! ```

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::ErrorEnvelopeLayer;
pub use service::ErrorEnvelope;

#[cfg(test)]
mod tests;
