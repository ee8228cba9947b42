//! The MCP endpoint ([`McpService`]), its one description ([`Endpoint`]) and the request
//! classification ([`classify`], [`McpRequest`]) it shares with every layer.
//!
//! `McpService` serves a [`ContextSource`](crate::context::ContextSource):
//!
//! - REST: `GET /context/{id}` (the envelope `{"contextId","version","timestamp","data"}`,
//!   with `ETag`/`If-None-Match`; `?select=` JSON Pointers or a text range, `limit` and
//!   `cursor` to page an array: see [`Selector`](crate::context::Selector)), `GET /context?prefix=&cursor=&limit=` (a page of
//!   `items` and an opaque `nextCursor`), `POST /context` with `{"ids":[...]}` (batch read,
//!   one status per id).
//! - MCP Streamable HTTP at `/mcp`, both protocol eras on the same path:
//!   2025-03-26 / 2025-06-18 / 2025-11-25 (`initialize`, `ping`, `resources/*`) and the
//!   stateless 2026-07-28 (`server/discover`, `resources/*`, per-request `_meta`,
//!   `Mcp-Method`/`Mcp-Name` checks, `resultType`/`ttlMs`/`cacheScope` on results).
//!
//! With [`EndpointBuilder::async_generation`], reads slower than a short wait become
//! background jobs answered "pending" (REST `202 Accepted` + `Retry-After` + `Location`, MCP a
//! pending result) until the context is ready; see [`AsyncGeneration`]. A 2025-era
//! `resources/read` carrying `params._meta.progressToken` is answered instead with a
//! server-sent event stream of `notifications/progress` messages, then its response (a
//! [`ResponseBody`] stream, bounded by [`AsyncGeneration::max_stream`]).
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
//! use mcp_bastion::mcp::{Endpoint, McpService};
//! use tower::ServiceBuilder;
//!
//! let endpoint = Endpoint::builder().server_name("docs").build()?;
//! let service = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::for_endpoint(&endpoint))
//!     .service(McpService::with_endpoint(StaticSource::new(), endpoint));
//! # let _ = service;
//! # Ok::<(), mcp_bastion::error::ConfigError>(())
//! ```

mod body;
mod classify;
mod conditional;
mod cursor;
mod endpoint;
mod generation;
mod metadata;
mod origin;
pub mod protocol;
mod response_body;
mod rest;
mod rpc;
mod select;
mod service;
mod session;
pub mod wire;

pub use body::RequestBody;
pub(crate) use classify::{Head, classify_body, classify_head};
pub use classify::{
    McpRequest, Operation, RpcCall, RpcMessage, RpcRequest, RpcTarget, check_post_headers,
    classify, classify_rpc,
};
pub(crate) use conditional::not_modified;
pub use cursor::MIN_CURSOR_SECRET;
pub use endpoint::{
    DEFAULT_BODY_LIMIT, DEFAULT_GENERATION_ABANDON_AFTER, DEFAULT_GENERATION_KEEP_FOR,
    DEFAULT_GENERATION_MAX_STREAM, DEFAULT_GENERATION_PROGRESS_EVERY,
    DEFAULT_GENERATION_RETRY_AFTER, DEFAULT_GENERATION_WAIT, DEFAULT_MAX_BATCH,
    DEFAULT_MAX_BATCH_RESPONSE, DEFAULT_MAX_CONCURRENT_GENERATIONS, DEFAULT_MAX_GENERATION_JOBS,
    DEFAULT_MAX_GENERATION_JOBS_PER_CALLER, DEFAULT_MAX_RPC_BATCH, DEFAULT_MAX_SESSIONS,
    DEFAULT_MCP_PATH, DEFAULT_PAGE_SIZE, DEFAULT_REST_PREFIX, DEFAULT_SESSION_IDLE_TIMEOUT,
    Endpoint, EndpointBuilder, MAX_PAGE_SIZE,
};
pub use generation::AsyncGeneration;
pub(crate) use metadata::Challenge;
pub use metadata::{
    ResourceMetadata, ResourceMetadataService, WELL_KNOWN_PATH, authentication_required,
    insufficient_scope,
};
pub use origin::{HostPolicy, OriginPolicy};
pub use response_body::ResponseBody;
pub(crate) use select::{rest_key as rest_selection_key, rpc_key as rpc_selection_key};
pub use service::{McpService, ResponseFuture};
pub(crate) use wire::{
    BatchResults, ContextListing, PromptList, ResourceList, TemplateList, ToolList,
    to_bytes as wire_bytes,
};
