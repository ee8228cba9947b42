//! [`ContextCacheLayer`] and its settings.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::flight::Flights;
use super::handle::CacheHandle;
use super::service::ContextCacheService;
use super::store::Store;
use crate::error::ConfigError;
use crate::mcp::Endpoint;

/// Default most entries.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// Default byte budget of all entries.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Default largest single entry.
pub const DEFAULT_MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;
/// Default freshness when the source gives no TTL.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// Default time a stale entry is still served when the source fails.
pub const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(300);
/// Default time followers of a single flight wait for its leader.
pub const DEFAULT_FLIGHT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the cache does, fixed when the layer is built.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) enabled: bool,
    pub(crate) default_ttl: Duration,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    pub(crate) not_found_ttl: Option<Duration>,
    pub(crate) max_entry_bytes: usize,
    pub(crate) flight_timeout: Duration,
}

/// The coding configuration stored encoded variants follow (feature `compression`), when
/// the cache serves them; empty without the feature.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct VariantConfig {
    #[cfg(feature = "compression")]
    pub(crate) config: Option<crate::coding::CompressionConfig>,
}

/// State shared by every clone of the layer, its services and its handle.
#[derive(Debug)]
pub(crate) struct CacheShared {
    pub(crate) store: Store,
    pub(crate) flights: Flights,
    pub(crate) settings: Settings,
}

/// Caches context reads. See the [module documentation](crate::cache).
#[derive(Debug, Clone)]
pub struct ContextCacheLayer {
    shared: Arc<CacheShared>,
    endpoint: Arc<Endpoint>,
    variants: VariantConfig,
}

impl ContextCacheLayer {
    /// A builder starting from the defaults.
    pub fn builder() -> ContextCacheLayerBuilder {
        ContextCacheLayerBuilder {
            endpoint: None,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
            max_entries_per_caller: None,
            settings: Settings {
                enabled: true,
                default_ttl: DEFAULT_TTL,
                stale_while_revalidate: Duration::ZERO,
                stale_if_error: DEFAULT_STALE_IF_ERROR,
                not_found_ttl: None,
                max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
                flight_timeout: DEFAULT_FLIGHT_TIMEOUT,
            },
        }
    }

    /// A layer that caches nothing (every request passes through): what a
    /// [`Stack`](crate::stack::Stack) uses when no cache is configured.
    pub fn disabled(endpoint: &Endpoint) -> Self {
        let mut builder = Self::builder()
            .endpoint(endpoint)
            .max_entries(1)
            .max_bytes(1);
        builder.settings.enabled = false;
        builder.settings.max_entry_bytes = 1;
        builder.build().expect("the disabled settings are valid")
    }

    #[cfg(test)]
    pub(crate) fn shared_for_tests(&self) -> &CacheShared {
        &self.shared
    }

    /// The handle to invalidate entries and read the counters.
    pub fn handle(&self) -> CacheHandle {
        CacheHandle::new(Arc::clone(&self.shared))
    }

    /// This cache (same entries, same handle) in front of `endpoint`: how the stack gives
    /// the cache its endpoint description.
    pub(crate) fn with_endpoint(&self, endpoint: &Endpoint) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            endpoint: Arc::new(endpoint.clone()),
            variants: self.variants,
        }
    }

    /// Serve context reads encoded from stored variants (feature `compression`): the first
    /// request for a context in a coding compresses its stored body once (however many ask
    /// at once) and keeps the result with the entry, charged to the byte budget; later
    /// requests in that coding get the stored bytes with `Content-Encoding`, `Vary:
    /// accept-encoding` and the weak `ETag`. Only behind a
    /// [`CompressionLayer`](crate::compression::CompressionLayer) built with the same
    /// `config`: the cache reads the one coding that layer negotiated from `Accept-Encoding`.
    /// [`Stack::compression`](crate::stack::Stack::compression) does this for its cache.
    ///
    /// ```
    /// use mcp_bastion::cache::ContextCacheLayer;
    /// use mcp_bastion::compression::{CompressionConfig, CompressionLayer};
    /// use mcp_bastion::context::StaticSource;
    /// use mcp_bastion::mcp::McpService;
    /// use tower::ServiceBuilder;
    ///
    /// let config = CompressionConfig::default();
    /// let service = ServiceBuilder::new()
    ///     .layer(CompressionLayer::new(config))
    ///     .layer(ContextCacheLayer::builder().build()?.encoded_variants(config))
    ///     .service(McpService::new(StaticSource::new()));
    /// # let _ = service;
    /// # Ok::<(), mcp_bastion::error::ConfigError>(())
    /// ```
    #[cfg(feature = "compression")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
    #[must_use]
    pub fn encoded_variants(mut self, config: crate::compression::CompressionConfig) -> Self {
        self.variants.config = Some(config);
        self
    }
}

/// Builder of [`ContextCacheLayer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ContextCacheLayerBuilder {
    endpoint: Option<Endpoint>,
    max_entries: usize,
    max_bytes: usize,
    max_entries_per_caller: Option<usize>,
    settings: Settings,
}

impl ContextCacheLayerBuilder {
    /// The endpoint whose requests are cached (default [`Endpoint::default`]).
    pub fn endpoint(mut self, endpoint: &Endpoint) -> Self {
        self.endpoint = Some(endpoint.clone());
        self
    }

    /// Most entries (default 10,000).
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max_entries = max;
        self
    }

    /// Most entries one caller's requests may store (default a quarter of
    /// [`max_entries`](Self::max_entries)), so that no one caller can push everyone else's
    /// entries out.
    pub fn max_entries_per_caller(mut self, max: usize) -> Self {
        self.max_entries_per_caller = Some(max);
        self
    }

    /// Byte budget of all entries, bodies and kept headers counted (default 64 MiB).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Largest answer stored (default 4 MiB); larger ones pass through.
    pub fn max_entry_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_entry_bytes = bytes;
        self
    }

    /// Freshness when the source gives none (default 30 s).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.settings.default_ttl = ttl;
        self
    }

    /// Serve an entry this long past its TTL while one background request refreshes it
    /// (default off).
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.settings.stale_while_revalidate = window;
        self
    }

    /// Serve an entry this long past its TTL when the source fails or times out, marked
    /// stale (default 5 minutes).
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.settings.stale_if_error = window;
        self
    }

    /// Remember "not found" answers (REST 404, JSON-RPC resource not found) this long
    /// (default: never).
    pub fn cache_not_found(mut self, ttl: Duration) -> Self {
        self.settings.not_found_ttl = Some(ttl);
        self
    }

    /// How long concurrent misses wait for the one request that fetches for them (default
    /// 10 s); then they get a stale entry, or 504.
    pub fn flight_timeout(mut self, timeout: Duration) -> Self {
        self.settings.flight_timeout = timeout;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<ContextCacheLayer, ConfigError> {
        let max_entries = NonZeroUsize::new(self.max_entries)
            .ok_or_else(|| ConfigError::new("cache max_entries must be at least 1"))?;
        if self.max_bytes == 0 || self.settings.max_entry_bytes == 0 {
            return Err(ConfigError::new(
                "cache max_bytes and max_entry_bytes must be at least 1",
            ));
        }
        if self.settings.flight_timeout.is_zero() {
            return Err(ConfigError::new(
                "cache flight_timeout must be longer than zero",
            ));
        }
        let per_caller = self
            .max_entries_per_caller
            .unwrap_or(max_entries.get().div_ceil(4));
        if per_caller == 0 {
            return Err(ConfigError::new(
                "cache max_entries_per_caller must be at least 1",
            ));
        }
        Ok(ContextCacheLayer {
            shared: Arc::new(CacheShared {
                store: Store::new(max_entries, self.max_bytes, per_caller),
                flights: Flights::default(),
                settings: self.settings,
            }),
            endpoint: Arc::new(self.endpoint.unwrap_or_default()),
            variants: VariantConfig::default(),
        })
    }
}

impl<S> Layer<S> for ContextCacheLayer {
    type Service = ContextCacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ContextCacheService::new(
            inner,
            Arc::clone(&self.shared),
            Arc::clone(&self.endpoint),
            self.variants,
        )
    }
}
