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
//!   cache all see identity bodies, and the cache stores one identity copy that is compressed
//!   on the way out (`benches/compression.rs` measures that against storing encoded copies).
//!   It compresses responses with a JSON or text content type (never `text/event-stream`,
//!   never gRPC) whose size is unknown or at least [`CompressionConfig::min_size`], never a
//!   `HEAD` response, a 1xx/204/206/304, or a response already encoded. Every response with
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
//!
//! The negotiated coding replaces the request's `Accept-Encoding` for the layers below (a
//! single token, or `identity`), so they see exactly what is sent.

mod negotiate;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use request::{
    DecodedBody, DecompressionFuture, DecompressionResponseBody, RequestDecompression,
    RequestDecompressionLayer,
};
pub use response::{Compression, CompressionLayer, ResponseBody, ResponseFuture};
pub use tower_http::CompressionLevel;

use negotiate::Coding;

/// How to compress: the smallest body worth it, the level, and the codings offered.
///
/// Defaults: 1024 bytes, [`CompressionLevel::Default`] (gzip 6, brotli 4, zstd 3), gzip,
/// brotli and zstd all on.
///
/// ```
/// use mcp_bastion::compression::{CompressionConfig, CompressionLevel};
///
/// let config = CompressionConfig::default()
///     .min_size(4096)
///     .level(CompressionLevel::Fastest)
///     .brotli(false);
/// assert_eq!(config.min_size_bytes(), 4096);
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct CompressionConfig {
    min_size: u64,
    level: CompressionLevel,
    encodings: Encodings,
}

/// The smallest response body compressed by default: below about a kilobyte the headers and
/// the coding's framing eat most of the gain.
const DEFAULT_MIN_SIZE: u64 = 1024;

impl Default for CompressionConfig {
    fn default() -> Self {
        Self {
            min_size: DEFAULT_MIN_SIZE,
            level: CompressionLevel::Default,
            encodings: Encodings::ALL,
        }
    }
}

impl CompressionConfig {
    /// Compress only bodies of at least `bytes` (when the size is known).
    pub fn min_size(mut self, bytes: u64) -> Self {
        self.min_size = bytes;
        self
    }

    /// The compression level of every coding.
    pub fn level(mut self, level: CompressionLevel) -> Self {
        self.level = level;
        self
    }

    /// Offer gzip (and decode gzip request bodies).
    pub fn gzip(mut self, on: bool) -> Self {
        self.encodings = self.encodings.with(Coding::Gzip, on);
        self
    }

    /// Offer brotli (`br`).
    pub fn brotli(mut self, on: bool) -> Self {
        self.encodings = self.encodings.with(Coding::Brotli, on);
        self
    }

    /// Offer zstd.
    pub fn zstd(mut self, on: bool) -> Self {
        self.encodings = self.encodings.with(Coding::Zstd, on);
        self
    }

    /// The configured minimum size.
    pub fn min_size_bytes(&self) -> u64 {
        self.min_size
    }
}

/// Which codings are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encodings([bool; 3]);

impl Encodings {
    pub(crate) const ALL: Self = Self([true; 3]);

    pub(crate) fn allows(self, coding: Coding) -> bool {
        self.0[coding as usize]
    }

    fn with(mut self, coding: Coding, on: bool) -> Self {
        self.0[coding as usize] = on;
        self
    }

    #[cfg(test)]
    pub(crate) fn without(self, coding: Coding) -> Self {
        self.with(coding, false)
    }
}
