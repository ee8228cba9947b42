//! Compression (feature `compression`): responses compressed with gzip, brotli or zstd as the
//! client accepts, and request bodies in those codings decoded within the endpoint's body
//! limit, on tower-http's compression and decompression layers.
//!
//! ```
//! use mcp_bastion::compression::{
//!     CompressionConfig, CompressionLayer, RequestDecompressionLayer,
//! };
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::envelope::ErrorEnvelopeLayer;
//! use mcp_bastion::mcp::{Endpoint, McpService};
//! use tower::ServiceBuilder;
//!
//! let endpoint = Endpoint::default();
//! let config = CompressionConfig::default().min_size(2048);
//! let service = ServiceBuilder::new()
//!     .layer(CompressionLayer::new(config))
//!     .layer(ErrorEnvelopeLayer::for_endpoint(&endpoint))
//!     .layer(RequestDecompressionLayer::new(config).with_endpoint(&endpoint))
//!     .service(McpService::with_endpoint(StaticSource::new(), endpoint));
//! # let _ = service;
//! ```
//!
//! [`Stack::compression`](crate::stack::Stack::compression) puts both in their place:
//!
//! - [`CompressionLayer`] sits just inside the observe layer, outside everything that reads
//!   or rewrites response bodies: the error envelope, the policy's listing filter and the
//!   cache all see identity bodies. The cache stores one identity copy, and for context reads
//!   an encoded copy per coding built on first use
//!   ([`ContextCacheLayer::encoded_variants`](crate::cache::ContextCacheLayer::encoded_variants),
//!   which the stack turns on), passed through here as already encoded; everything else is
//!   compressed on the way out (`benches/compression.rs` measures both).
//!   It compresses responses with a JSON or text content type (never `text/event-stream`,
//!   never gRPC) whose size is unknown or at least [`CompressionConfig::min_size`], never a
//!   `HEAD` response's body, a 1xx/204/206/304, or a response already encoded. Every response with
//!   a compressible type gets `Vary: accept-encoding` merged into its `Vary`. A compressed
//!   response's strong `ETag` becomes weak (`W/"v"`, RFC 9110 §8.8.3): `If-None-Match`
//!   compares weakly, so a client revalidating with the weak tag gets its 304 (repeating the
//!   weak tag), from the endpoint or the cache alike. `Accept-Encoding` that accepts nothing
//!   we offer (`*;q=0`, `identity;q=0`, garbage) is answered unencoded, never 406.
//! - [`RequestDecompressionLayer`] sits inside the error envelope and before classification:
//!   a body in `Content-Encoding: gzip`, `br` or `zstd` is decoded as it is read, and the
//!   decoded bytes count against [`Endpoint::body_limit`](crate::mcp::Endpoint::body_limit),
//!   so a zip bomb stops at the limit with 413 in the request's dialect. Any other coding
//!   (or more than one) is refused with 415 and `Accept-Encoding` naming what is accepted.
//!   A gzip body of several members (RFC 1952 §2.2) is decoded whole.
//!
//! The negotiated coding replaces the request's `Accept-Encoding` for the layers below (a
//! single token, or `identity`), so they see exactly what is sent.

mod either;
#[cfg(test)]
mod members_tests;
mod negotiate;
mod request;
mod response;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod variant_tests;

pub use request::{
    DecodedBody, DecompressionFuture, DecompressionResponseBody, RequestDecompression,
    RequestDecompressionLayer,
};
pub use response::{Compression, CompressionLayer, ResponseBody, ResponseFuture};
pub use tower_http::CompressionLevel;

pub(crate) use crate::coding::Encodings;

pub use crate::coding::CompressionConfig;
