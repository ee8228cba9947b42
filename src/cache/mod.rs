//! [`ContextCacheLayer`]: a principal-aware cache of context reads, between the policy and
//! the endpoint.
//!
//! Cached: REST `GET`/`HEAD {rest}/{id}` (the selection, `?select=` / `limit` / `cursor` in
//! its canonical form, is part of the key: one selection never returns another, however
//! its pointers are ordered; a query the endpoint refuses is not cached) and `GET {rest}`
//! (the whole query is part of the key), and the JSON-RPC `resources/read` (its selection
//! part of the key too),
//! `resources/list`, `resources/templates/list` and `server/discover` calls (single calls,
//! not batches), in front of [`McpService`](crate::mcp::McpService) or any inner service that
//! answers them. An answer is stored once as bytes: REST hits send them as they are;
//! JSON-RPC hits splice the caller's id around the stored `result`.
//!
//! - **Scope.** The source's hint decides (the [`CacheHint`](crate::context::CacheHint)
//!   McpService attaches, else the 2026-07-28 `cacheScope` / `ttlMs`, else `Cache-Control`, else
//!   private for the default TTL). Public entries are shared; private ones are keyed by the
//!   principal's subject and never served to anyone else. `no-store`, errors and results
//!   other than complete ones (`resultType: "input_required"`, `"pending"`) are never stored, nor is
//!   a `202 Accepted` (a context still being generated). Put the cache
//!   behind the policy ([`Stack`](crate::stack::Stack) does): a hit is served only to
//!   requests the policy let through, and the sensitivity labels the source gave travel with
//!   the entry so the policy checks them again on every hit.
//! - **Bounds.** Entries and bytes (bodies plus kept headers), least recently used out
//!   first; answers over the entry limit pass through.
//! - **HTTP.** `ETag` / `Last-Modified` kept; `If-None-Match` and `If-Modified-Since` get 304
//!   from the entry; `Cache-Control` is `private` whenever the request was authenticated,
//!   `public` only for anonymous requests of shared entries, with the remaining `max-age`;
//!   `Cache-Status` (RFC 9211): `mcp-bastion; hit`, `mcp-bastion; fwd=miss; stored`,
//!   `mcp-bastion; fwd=miss`, `mcp-bastion; hit; fwd=stale`. 2026-07-28 results carry the
//!   remaining `ttlMs`.
//! - **Single flight.** Concurrent misses for one key (and one principal) make one request;
//!   the others wait (up to the flight timeout) and answer from what it stored. A cancelled or
//!   failed leader leaves them free to ask on their own.
//! - **Stale.** stale-while-revalidate (serve, refresh once in the background) and
//!   stale-if-error (the source fails or the flight times out: the stale entry, marked).
//! - **Encoded variants** (feature `compression`, behind the compression layer:
//!   `ContextCacheLayer::encoded_variants`, which [`Stack`](crate::stack::Stack) turns on).
//!   A REST context read is compressed once per coding, on its first request in that coding,
//!   and the encoded bytes are kept with the entry (charged to its budget, dropped with it);
//!   listings and JSON-RPC answers are compressed on the way out.
//! - **Invalidation.** [`CacheHandle`]: `invalidate(id)`, `invalidate_prefix(prefix)`,
//!   `clear()`, from any thread; counters in [`CacheStats`]. [`InvalidationWebhook`] takes
//!   signed `POST /cache/invalidate` requests from the systems that change contexts
//!   ([`CacheHandle::webhook`] wires one to a cache).
//!
//! ```
//! use mcp_bastion::cache::ContextCacheLayer;
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::mcp::{Endpoint, McpService};
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//!
//! let endpoint = Endpoint::default();
//! let cache = ContextCacheLayer::builder()
//!     .endpoint(&endpoint)
//!     .max_bytes(16 * 1024 * 1024)
//!     .default_ttl(Duration::from_secs(30))
//!     .build()?;
//! let handle = cache.handle(); // invalidation and counters
//! let service = ServiceBuilder::new()
//!     .layer(cache)
//!     .service(McpService::with_endpoint(StaticSource::new(), endpoint));
//! # let _ = (service, handle);
//! # Ok::<(), mcp_bastion::error::ConfigError>(())
//! ```

mod entry;
mod fill;
mod flight;
mod handle;
mod key;
mod layer;
mod respond;
mod route;
mod service;
mod store;
#[cfg(feature = "compression")]
mod variant;
mod webhook;

pub use handle::{CacheHandle, CacheStats};
pub use layer::{
    ContextCacheLayer, ContextCacheLayerBuilder, DEFAULT_FLIGHT_TIMEOUT, DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ENTRIES, DEFAULT_MAX_ENTRY_BYTES, DEFAULT_STALE_IF_ERROR, DEFAULT_TTL,
};
pub use route::{DEFAULT_WEBHOOK_PATH, RouteFuture, WebhookRoute};
pub use service::ContextCacheService;
pub use webhook::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_KEYS, DEFAULT_REPLAY_CAPACITY, DEFAULT_WINDOW,
    InvalidationRequest, InvalidationWebhook, MIN_SECRET_BYTES, SIGNATURE_HEADER, WebhookError,
    WebhookFuture, WebhookSecret, verify_signature,
};

#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;
