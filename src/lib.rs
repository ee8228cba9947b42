//! # mcp-bastion
//!
//! Tower middleware that turns any hyper, axum or tonic application into a production
//! [Model Context Protocol](https://modelcontextprotocol.io) server.
//!
//! Either implement [`ContextSource`](context::ContextSource) and serve it with
//! [`McpService`](mcp::McpService) (REST plus MCP Streamable HTTP, both protocol eras), or
//! keep the MCP implementation you have and put the layers in front of it. Every failure,
//! from any layer or the inner service, reaches the client as one envelope per dialect
//! ([`ErrorEnvelopeLayer`](envelope::ErrorEnvelopeLayer)).
//!
//! ```
//! use mcp_bastion::context::{ContextEntry, ContextId, StaticSource};
//! use mcp_bastion::envelope::ErrorEnvelopeLayer;
//! use mcp_bastion::mcp::McpService;
//! use tower::ServiceBuilder;
//!
//! let source = StaticSource::new().with_context(
//!     ContextId::parse("public-docs/getting-started")?,
//!     ContextEntry::text("markdown", "text", "# Getting Started\nWelcome!"),
//! );
//! // A complete MCP server: serve `service` with hyper, or nest it in an axum Router.
//! let service = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::new())
//!     .service(McpService::new(source));
//! # let _ = service;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules follow the request: [`error`] (the rejection and its envelopes), [`principal`]
//! (who is calling), [`client_addr`] (where from), [`context`] (ids and sources), [`mcp`]
//! (classification and the endpoint), then the layers: [`observe`] (request ids, the
//! access log, metrics, traces), [`envelope`] (one error format),
//! [`overload`] (load shedding, deadlines), [`auth`], [`rate_limit`] (quotas and the
//! `RateLimit` header fields), [`policy`], [`cache`], and `compression` (feature
//! `compression`: gzip, br and zstd both ways); [`stack`] puts them in order, and
//! [`server`] serves any of it. On the other side of the wire, `client` (feature `client`)
//! is a resilient client of such a server: `McpClient` and its tower layers (retries, circuit
//! breaker, deadlines, bearer, trace context, ETag-revalidating cache).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod cache;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
pub mod client_addr;
#[cfg(feature = "compression")]
mod coding;
#[cfg(feature = "compression")]
#[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
pub mod compression;
pub mod context;
pub mod envelope;
pub mod error;
pub mod facts;
mod header_value;
pub mod mcp;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod observe;
#[cfg(feature = "otel")]
mod otel;
pub mod overload;
pub mod policy;
pub mod principal;
pub mod rate_limit;
pub mod server;
pub mod stack;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
#[cfg(any(feature = "jwks", feature = "client"))]
mod tls_client;
