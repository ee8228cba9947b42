//! [`ServerConfig`]: how long a connection may take and how many may be open.

use std::time::Duration;

use crate::error::ConfigError;

/// Default time a client gets to send a request's headers, and to start the first request
/// after connecting.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection may stay open with no request in flight.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time a client gets to send a whole request body.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default interval of HTTP/2 keep-alive pings.
pub const DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// Default time an HTTP/2 keep-alive ping may go unanswered before the connection closes.
pub const DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default most open connections; more wait in the listen queue until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default most concurrent HTTP/2 streams per connection.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 128;

/// Limits of [`serve_with`](super::serve_with) and `tls::serve_tls_with`. The defaults are
/// safe for a server on the open internet; build with [`ServerConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// use mcp_bastion::server::ServerConfig;
///
/// let config = ServerConfig::builder()
///     .header_read_timeout(Duration::from_secs(5))
///     .max_connections(1000)
///     .build()?;
/// assert_eq!(config.max_connections(), 1000);
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) body_read_timeout: Duration,
    pub(crate) http2_keep_alive_interval: Duration,
    pub(crate) http2_keep_alive_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_concurrent_streams: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            http2_keep_alive_interval: DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL,
            http2_keep_alive_timeout: DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
        }
    }
}

impl ServerConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> ServerConfigBuilder {
        ServerConfigBuilder {
            config: Self::default(),
        }
    }

    /// Most open connections.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }
}

/// Builder of [`ServerConfig`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ServerConfigBuilder {
    config: ServerConfig,
}

impl ServerConfigBuilder {
    /// Time to send a request's headers, and to start the first request after connecting
    /// (default 10 s). HTTP/1 connections waiting for their next request are bounded by it
    /// too.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.header_read_timeout = timeout;
        self
    }

    /// Time a connection may stay open with no request in flight (default 60 s); then it
    /// is closed gracefully.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Time to send a whole request body, from the start of the request (default 30 s);
    /// a body still arriving then fails, and the layers that read it answer 408.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.body_read_timeout = timeout;
        self
    }

    /// HTTP/2 keep-alive: ping every `interval`, close when a ping goes unanswered for
    /// `timeout` (defaults 20 s and 10 s).
    pub fn http2_keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.config.http2_keep_alive_interval = interval;
        self.config.http2_keep_alive_timeout = timeout;
        self
    }

    /// Most open connections (default 4096). Past it the server stops accepting: new
    /// clients wait in the listen queue while the open ones keep being served.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = max;
        self
    }

    /// Most concurrent HTTP/2 streams per connection (default 128).
    pub fn max_concurrent_streams(mut self, max: u32) -> Self {
        self.config.max_concurrent_streams = max;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<ServerConfig, ConfigError> {
        let config = self.config;
        for (name, value) in [
            ("header_read_timeout", config.header_read_timeout),
            ("idle_timeout", config.idle_timeout),
            ("body_read_timeout", config.body_read_timeout),
            (
                "http2 keep-alive interval",
                config.http2_keep_alive_interval,
            ),
            ("http2 keep-alive timeout", config.http2_keep_alive_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(format!("{name} must be longer than zero")));
            }
        }
        // Semaphore permits are bounded by this, and a zero cap would serve nobody.
        if config.max_connections == 0 || config.max_connections > u32::MAX as usize >> 3 {
            return Err(ConfigError::new(
                "max_connections must be between 1 and 536870911",
            ));
        }
        if config.max_concurrent_streams == 0 {
            return Err(ConfigError::new(
                "max_concurrent_streams must be at least 1",
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_are_refused() {
        assert!(ServerConfig::builder().build().is_ok());
        let zero = Duration::ZERO;
        assert!(
            ServerConfig::builder()
                .header_read_timeout(zero)
                .build()
                .is_err()
        );
        assert!(ServerConfig::builder().idle_timeout(zero).build().is_err());
        assert!(
            ServerConfig::builder()
                .body_read_timeout(zero)
                .build()
                .is_err()
        );
        assert!(ServerConfig::builder().max_connections(0).build().is_err());
        assert!(
            ServerConfig::builder()
                .max_concurrent_streams(0)
                .build()
                .is_err()
        );
        let err = ServerConfig::builder()
            .http2_keep_alive(zero, zero)
            .build()
            .unwrap_err();
        assert!(err.message().contains("keep-alive"), "{err}");
    }
}
