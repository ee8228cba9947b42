//! [`ClientCacheLayer`]: keeps `GET` answers the server says may be kept, and revalidates
//! them with the server instead of fetching them again.
//!
//! - Fresh (within `max-age`): answered from memory, no request sent.
//! - Stale, with an `ETag` or `Last-Modified`: the request goes out with `If-None-Match` /
//!   `If-Modified-Since`; a `304` answer reuses the stored body (and renews its freshness).
//! - Never kept: `no-store` answers, statuses other than `200`, answers that vary on a
//!   request header the key does not hold (`Vary: accept-language`, `Vary: *`; a `Vary` on
//!   `Authorization`, `X-API-Key`, `Cookie`, `Host` or `Accept-Encoding` is fine, as the key
//!   holds them), answers
//!   without a `Content-Length` or larger than the entry limit (they pass through as they
//!   are). A body that does not match its `Content-Length` is an error.
//! - A request with `Cache-Control: no-cache` or `max-age=0` (or `Pragma: no-cache`) is
//!   never answered from memory unconfirmed: a stored answer is revalidated with the server
//!   (`304` reuses it). With `no-store` the cache stays out of the exchange.
//! - Entries are keyed by URI and a digest of the request's credential (`Authorization`,
//!   `X-API-Key`, `Cookie`): one caller's private answer never serves another.
//! - Bounded by entries and bytes, least recently used out first.

mod service;
mod store;

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use tower_layer::Layer;

pub use service::{ClientCache, ResponseFuture};

use crate::error::ConfigError;

/// How a [`ClientCache`] answered: set in the extensions of every response it returns.
///
/// ```
/// use mcp_bastion::client::cache::CacheOutcome;
///
/// # let response = http::Response::new(());
/// match response.extensions().get::<CacheOutcome>() {
///     Some(CacheOutcome::Fresh) => println!("from memory, no request sent"),
///     Some(CacheOutcome::Revalidated) => println!("304: the stored body reused"),
///     _ => println!("the server's answer"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// A fresh stored answer: no request was sent.
    Fresh,
    /// A stale stored answer the server confirmed (`304 Not Modified`): its body came from
    /// memory.
    Revalidated,
    /// The server's answer (kept for later or not).
    Miss,
}

/// Default most entries.
pub const DEFAULT_MAX_ENTRIES: usize = 1024;
/// Default most bytes held (bodies and headers).
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Default largest answer kept.
pub const DEFAULT_MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// An ETag-revalidating cache for a tower HTTP client service. See the
/// [module documentation](self).
///
/// ```
/// use mcp_bastion::client::ClientCacheLayer;
///
/// let cache = ClientCacheLayer::builder()
///     .max_entries(512)
///     .max_bytes(8 * 1024 * 1024)
///     .build()?;
/// # let _ = cache;
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientCacheLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Mutex<store::Store>,
    pub(crate) max_entry_bytes: usize,
}

/// Builds a [`ClientCacheLayer`]; [`build`](Self::build) checks the values.
#[derive(Debug, Clone)]
#[allow(clippy::struct_field_names)] // the three limits, named as their setters
pub struct ClientCacheLayerBuilder {
    max_entries: usize,
    max_bytes: usize,
    max_entry_bytes: usize,
}

impl ClientCacheLayer {
    /// Defaults: 1024 entries, 16 MiB, answers up to 1 MiB.
    pub fn builder() -> ClientCacheLayerBuilder {
        ClientCacheLayerBuilder {
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
            max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
        }
    }
}

impl ClientCacheLayerBuilder {
    /// Most entries (at least 1).
    #[must_use]
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// Most bytes held, bodies and headers (at least the entry limit).
    #[must_use]
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Largest answer kept (1 byte to the byte limit); larger ones pass through.
    #[must_use]
    pub fn max_entry_bytes(mut self, bytes: usize) -> Self {
        self.max_entry_bytes = bytes;
        self
    }

    /// The layer, or what is wrong with the values.
    pub fn build(self) -> Result<ClientCacheLayer, ConfigError> {
        let max_entries = NonZeroUsize::new(self.max_entries)
            .ok_or_else(|| ConfigError::new("client cache: max_entries must be at least 1"))?;
        if self.max_entry_bytes == 0 || self.max_entry_bytes > self.max_bytes {
            return Err(ConfigError::new(
                "client cache: max_entry_bytes must be at least 1 and at most max_bytes",
            ));
        }
        Ok(ClientCacheLayer {
            shared: Arc::new(Shared {
                store: Mutex::new(store::Store::new(max_entries, self.max_bytes)),
                max_entry_bytes: self.max_entry_bytes,
            }),
        })
    }
}

impl<S> Layer<S> for ClientCacheLayer {
    type Service = ClientCache<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientCache::new(inner, Arc::clone(&self.shared))
    }
}

#[cfg(test)]
mod tests;
