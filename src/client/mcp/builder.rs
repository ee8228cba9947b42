//! [`McpClientBuilder`]: the server's address, the credential, and the resilience settings.

use std::sync::Arc;
use std::time::Duration;

use http::Uri;

use super::transport::{self, HttpService, Layers};
use super::{Inner, McpClient};
use crate::client::bearer::BearerLayer;
use crate::client::breaker::CircuitBreakerLayer;
use crate::client::cache::ClientCacheLayer;
use crate::client::retry::RetryLayer;
use crate::error::ConfigError;
use crate::mcp::{DEFAULT_MCP_PATH, DEFAULT_REST_PREFIX};

/// Default deadline of a whole call: retries, waits and reading the answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default deadline of one attempt, until the answer's headers.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default largest answer read; a larger one is a [`ClientError::TooLarge`](super::ClientError).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Default most entries a listing may hold, all pages together (and most pages).
pub const DEFAULT_MAX_LIST_ITEMS: usize = 100_000;

/// Builds a [`McpClient`]; [`build`](Self::build) checks the values.
///
/// By default the client retries transient failures ([`RetryLayer`] defaults), has a circuit
/// breaker ([`CircuitBreakerLayer`] defaults) and a cache ([`ClientCacheLayer`] defaults),
/// sends `traceparent`, and waits at most 30 s for a call and 10 s for one attempt.
#[must_use]
pub struct McpClientBuilder {
    url: String,
    token: Option<String>,
    bearer: Option<BearerLayer>,
    retry: Option<RetryLayer>,
    breaker: Option<CircuitBreakerLayer>,
    cache: Option<ClientCacheLayer>,
    traceparent: bool,
    timeout: Duration,
    attempt_timeout: Duration,
    max_response_bytes: usize,
    max_list_items: usize,
    mcp_path: String,
    rest_prefix: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    http2_only: bool,
    connect_to: Option<std::net::SocketAddr>,
    transport: Option<HttpService>,
    defaults_failed: Option<ConfigError>,
}

impl McpClientBuilder {
    pub(super) fn new(url: &str) -> Self {
        // The default layers' own defaults are valid; should one ever not be, build says so.
        let retry = RetryLayer::builder().build();
        let breaker = CircuitBreakerLayer::builder().build();
        let cache = ClientCacheLayer::builder().build();
        let defaults_failed = [
            retry.as_ref().err(),
            breaker.as_ref().err(),
            cache.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .next()
        .cloned();
        Self {
            url: url.to_owned(),
            token: None,
            bearer: None,
            retry: retry.ok(),
            breaker: breaker.ok(),
            cache: cache.ok(),
            traceparent: true,
            timeout: DEFAULT_TIMEOUT,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_list_items: DEFAULT_MAX_LIST_ITEMS,
            mcp_path: DEFAULT_MCP_PATH.to_owned(),
            rest_prefix: DEFAULT_REST_PREFIX.to_owned(),
            tls: None,
            http2_only: false,
            connect_to: None,
            transport: None,
            defaults_failed,
        }
    }

    /// Sends `Authorization: Bearer <token>` (an API key or a JWT).
    pub fn bearer_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self.bearer = None;
        self
    }

    /// Sends the token of this layer, which the application may replace (a refresh).
    pub fn bearer(mut self, layer: BearerLayer) -> Self {
        self.bearer = Some(layer);
        self.token = None;
        self
    }

    /// Retries with these settings.
    pub fn retry(mut self, layer: RetryLayer) -> Self {
        self.retry = Some(layer);
        self
    }

    /// No retries: every failure is returned at once.
    pub fn no_retry(mut self) -> Self {
        self.retry = None;
        self
    }

    /// A circuit breaker with these settings (clients built with clones of one layer share
    /// its circuit).
    pub fn circuit_breaker(mut self, layer: CircuitBreakerLayer) -> Self {
        self.breaker = Some(layer);
        self
    }

    /// No circuit breaker.
    pub fn no_circuit_breaker(mut self) -> Self {
        self.breaker = None;
        self
    }

    /// A cache with these bounds.
    pub fn cache(mut self, layer: ClientCacheLayer) -> Self {
        self.cache = Some(layer);
        self
    }

    /// No cache: every read goes to the server.
    pub fn no_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// Whether to send the W3C trace context (`traceparent`); on by default.
    pub fn traceparent(mut self, send: bool) -> Self {
        self.traceparent = send;
        self
    }

    /// Deadline of a whole call: retries, their waits and reading the answer; for an MCP call
    /// the handshake too, and for a listing every page.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Deadline of one attempt, until the answer's headers (a timed-out attempt of a read is
    /// retried).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Largest answer read, in bytes.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Most entries a listing may hold, all pages together, and most pages it may take (empty
    /// ones too): a server that keeps handing out cursors cannot keep the client listing
    /// forever.
    pub fn max_list_items(mut self, items: usize) -> Self {
        self.max_list_items = items;
        self
    }

    /// The MCP endpoint's path under the URL (default `/mcp`).
    pub fn mcp_path(mut self, path: &str) -> Self {
        path.clone_into(&mut self.mcp_path);
        self
    }

    /// The REST prefix under the URL (default `/context`).
    pub fn rest_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.rest_prefix);
        self
    }

    /// The TLS configuration of `https` connections (default: the Mozilla roots from
    /// webpki-roots); for a private CA or a client certificate (mTLS).
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// HTTP/2 only: with prior knowledge over plain `http` (h2c), and required over `https`.
    /// By default `https` negotiates HTTP/2 or HTTP/1.1 by ALPN and `http` uses HTTP/1.1.
    pub fn http2_only(mut self) -> Self {
        self.http2_only = true;
        self
    }

    /// Opens every connection to `addr` instead of the URL's host, which still names the
    /// server in `Host` and for TLS (as curl's `--connect-to`): one instance behind a load
    /// balancer, a relay, a test.
    pub fn connect_to(mut self, addr: std::net::SocketAddr) -> Self {
        self.connect_to = Some(addr);
        self
    }

    /// Sends through this service instead of hyper-util's client (a proxy, a test double);
    /// the layers still wrap it. TLS and HTTP version settings then do not apply.
    pub fn transport(mut self, service: HttpService) -> Self {
        self.transport = Some(service);
        self
    }

    /// The client, or what is wrong with the values.
    pub fn build(self) -> Result<McpClient, ConfigError> {
        if let Some(err) = self.defaults_failed {
            return Err(err);
        }
        let base = parse_base(&self.url)?;
        for (name, path) in [
            ("mcp_path", &self.mcp_path),
            ("rest_prefix", &self.rest_prefix),
        ] {
            let valid = path.starts_with('/')
                && path.parse::<http::uri::PathAndQuery>().is_ok()
                && !path.contains(['?', '#']);
            if !valid {
                return Err(ConfigError::new(format!(
                    "client {name}: a path starting with '/' (got {path:?})"
                )));
            }
        }
        if self.timeout.is_zero() || self.attempt_timeout.is_zero() {
            return Err(ConfigError::new("client timeouts must be longer than zero"));
        }
        if self.max_response_bytes == 0 || self.max_list_items == 0 {
            return Err(ConfigError::new(
                "client max_response_bytes and max_list_items must be at least 1",
            ));
        }
        let bearer = match (self.bearer, self.token) {
            (Some(layer), _) => Some(layer),
            (None, Some(token)) => Some(BearerLayer::new(&token)?),
            (None, None) => None,
        };
        let transport = if let Some(service) = self.transport {
            service
        } else {
            let tls = match self.tls {
                Some(tls) => tls,
                // The Mozilla roots (webpki-roots).
                None => crate::tls_client::config(crate::tls_client::webpki_roots(), "client")?,
            };
            transport::hyper_transport(&tls, self.http2_only, self.connect_to)
        };
        let layers = Layers {
            bearer,
            traceparent: self.traceparent,
            cache: self.cache,
            breaker: self.breaker,
            retry: self.retry,
            attempt_timeout: self.attempt_timeout,
        };
        let rest_prefix = self.rest_prefix.trim_end_matches('/').to_owned();
        Ok(McpClient {
            inner: Arc::new(Inner {
                service: transport::stack(transport, layers),
                mcp_uri: format!("{base}{}", self.mcp_path),
                rest_uri: format!("{base}{rest_prefix}"),
                timeout: self.timeout,
                max_response_bytes: self.max_response_bytes,
                max_list_items: self.max_list_items,
                next_id: std::sync::atomic::AtomicU64::new(1),
                server: tokio::sync::Mutex::new(None),
            }),
        })
    }
}

/// `scheme://authority[/path]` without a trailing `/`, or why the URL cannot be a base.
fn parse_base(url: &str) -> Result<String, ConfigError> {
    let invalid = |why: &str| ConfigError::new(format!("client URL {url:?}: {why}"));
    let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(invalid("the scheme must be http or https")),
    }
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid(
            "credentials in the URL are refused; use bearer_token",
        ));
    }
    if uri.query().is_some() {
        return Err(invalid("a query cannot be part of the base URL"));
    }
    let scheme = uri.scheme_str().unwrap_or("http");
    Ok(format!(
        "{scheme}://{authority}{}",
        uri.path().trim_end_matches('/')
    ))
}

impl std::fmt::Debug for McpClientBuilder {
    // The token stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClientBuilder")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}
