//! # mcp-bastion
//!
//! Tower middleware that turns any hyper, axum or tonic application into a production
//! [Model Context Protocol](https://modelcontextprotocol.io) server: a REST API and MCP
//! Streamable HTTP (both protocol eras) over your contexts, behind authentication, policy,
//! rate limits, a cache and one error envelope.
//!
//! ## Serve
//!
//! Describe the server once ([`Endpoint`](mcp::Endpoint)), give [`Stack`](stack::Stack) an
//! authentication layer and a policy, and serve a [`ContextSource`](context::ContextSource)
//! (here the in-memory [`StaticSource`](context::StaticSource)):
//!
//! ```no_run
//! use mcp_bastion::auth::{ApiKey, ApiKeyStore, AuthLayer};
//! use mcp_bastion::context::{ContextEntry, ContextId, StaticSource};
//! use mcp_bastion::mcp::{Endpoint, ResourceMetadata};
//! use mcp_bastion::policy::{Policy, PolicyHandle};
//! use mcp_bastion::principal::{AuthMethod, Principal};
//! use mcp_bastion::stack::Stack;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = StaticSource::new().with_context(
//!     ContextId::parse("public-docs/getting-started")?,
//!     ContextEntry::text("markdown", "text", "# Getting Started\nWelcome!"),
//! );
//! let keys = ApiKeyStore::new([ApiKey::new(
//!     "user-guest-token",
//!     Principal::new("guestUser", AuthMethod::ApiKey).with_role("guest"),
//! )?])?;
//! let policy = Policy::from_toml(r#"
//!     roles = ["guest"]
//!     [[rules]]
//!     id = "guests-read"
//!     effect = "allow"
//!     roles = ["guest"]
//!     actions = ["read", "list"]
//!     contexts = ["**"]
//! "#)?;
//! let endpoint = Endpoint::builder()
//!     .loopback_port(3000)
//!     .resource_metadata(ResourceMetadata::new("http://127.0.0.1:3000/mcp")?)
//!     .build()?;
//! let service = Stack::new(endpoint)
//!     .auth(AuthLayer::builder().api_keys(keys))
//!     .policy(PolicyHandle::new(policy))
//!     .serve_source(source)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! mcp_bastion::server::serve(listener, service, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```
//!
//! In axum, `Stack::mount` (feature `axum`) puts the same routes on a `Router`; in front of
//! another MCP server (rmcp, tonic), [`Stack::service`](stack::Stack::service) wraps it. Every
//! layer also works alone with `tower::ServiceBuilder`.
//!
//! ## Modules
//!
//! Serving:
//! - [`stack`]: the layers in their one safe order, from one endpoint description.
//! - [`server`]: serves any tower service over TCP (HTTP/1.1 and HTTP/2, header and idle
//!   timeouts, graceful shutdown); `tls` (feature `tls`) over TLS, with client certificates.
//! - [`mcp`]: the endpoint ([`McpService`](mcp::McpService), [`Endpoint`](mcp::Endpoint)),
//!   request classification shared by every layer, RFC 9728 resource metadata.
//! - [`context`]: context ids, sources ([`ContextSource`](context::ContextSource), static,
//!   directory, closures), selection, labels.
//!
//! The layers, outermost first:
//! - [`observe`]: request ids, the access log, JSON log lines, metrics and traces
//!   (`metrics`, feature `metrics`: the Prometheus names and recorder).
//! - `compression` (feature `compression`): gzip, br and zstd, responses and request bodies.
//! - [`envelope`]: one error format for every failure; [`error`] holds the rejection type and
//!   its REST, JSON-RPC and gRPC forms.
//! - [`overload`]: load shedding and deadlines.
//! - [`client_addr`]: the client's address, behind trusted proxies.
//! - [`auth`]: API keys, JWTs (JWKS), OAuth 2.1 resource server, mTLS identities; it leaves a
//!   [`principal::Principal`] in the request extensions.
//! - [`rate_limit`]: per-principal and per-address quotas, the `RateLimit` header fields.
//! - [`policy`]: RBAC roles and ABAC conditions per context, resource, tool, prompt and path,
//!   default deny, filtered listings.
//! - [`cache`]: LRU + TTL + byte budget, ETag/304, single flight, stale-if-error,
//!   invalidation (also by signed webhook).
//!
//! Shared: [`principal`] (who is calling), [`facts`] (what the layers learned about a
//! request, for the access log). On the other side of the wire, `client` (feature `client`):
//! `McpClient` and its layers (retries, circuit breaker, deadlines, bearer, trace context,
//! ETag-revalidating cache).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// README.md's Rust blocks are doctests too (`.ci/readme` also builds and runs them in a
// fresh crate); they use the JWT and client features.
#[cfg(all(doctest, feature = "jwt", feature = "client"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

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
