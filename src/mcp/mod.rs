//! The MCP endpoint ([`McpService`]) and the request classifier it shares with the layers.
//!
//! `McpService` serves a [`ContextSource`](crate::context::ContextSource):
//!
//! - REST: `GET /context/{id}` (the envelope `{"contextId","version","timestamp","data"}`,
//!   with `ETag`/`If-None-Match`), `GET /context?prefix=&cursor=&limit=` (a page of
//!   `items` and an opaque `nextCursor`), `POST /context` with `{"ids":[...]}` (batch read,
//!   one status per id).
//! - MCP Streamable HTTP at `/mcp`, both protocol eras on the same path:
//!   2025-03-26 / 2025-06-18 / 2025-11-25 (`initialize`, `ping`, `resources/*`) and the
//!   stateless 2026-07-28 (`server/discover`, `resources/*`, per-request `_meta`,
//!   `Mcp-Method`/`Mcp-Name` checks, `resultType`/`ttlMs`/`cacheScope` on results).
//!
//! Transport and header violations are answered with a 4xx status and a JSON-RPC error
//! (`-32700` parse, `-32600` shape, `-32602` `_meta`, `-32020` header mismatch, `-32022`
//! unsupported version, 404 + `-32601` for unknown 2026-07-28 methods). Errors of a method
//! inside a valid exchange (unknown resource, bad params) are JSON-RPC errors in an HTTP 200,
//! as MCP clients expect.
//!
//! ```
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::envelope::ErrorEnvelopeLayer;
//! use mcp_bastion::mcp::{McpConfig, McpService};
//! use tower::ServiceBuilder;
//!
//! let config = McpConfig::builder().server_name("docs").build()?;
//! let service = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::new())
//!     .service(McpService::with_config(StaticSource::new(), config));
//! # let _ = service;
//! # Ok::<(), mcp_bastion::error::ConfigError>(())
//! ```

mod body;
mod classify;
mod config;
mod cursor;
pub mod protocol;
mod rest;
mod rpc;
mod service;
mod session;

pub use body::RequestBody;
pub use classify::{RpcCall, RpcMessage, RpcRequest, RpcTarget, check_post_headers, classify_rpc};
pub use config::{
    DEFAULT_BODY_LIMIT, DEFAULT_MAX_BATCH, DEFAULT_MAX_SESSIONS, DEFAULT_PAGE_SIZE,
    DEFAULT_SESSION_IDLE_TIMEOUT, HostPolicy, MAX_PAGE_SIZE, McpConfig, McpConfigBuilder,
    OriginPolicy,
};
pub(crate) use rpc::LABELS_META;
pub(crate) use service::{BodyError, read_body};
pub use service::{McpService, ResponseFuture};
