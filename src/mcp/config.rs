//! [`McpConfig`]: how the endpoint is served.

use std::sync::Arc;

use crate::context::ResourceUriMapping;
use crate::error::ConfigError;

/// Default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Default (and largest accepted) page sizes.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page a client may ask for with `limit`.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Most ids one REST batch read may name.
pub const DEFAULT_MAX_BATCH: usize = 100;

/// Which `Origin` header values the endpoint accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// `http(s)://localhost`, `127.0.0.1` and `[::1]`, on any port (the default).
    Loopback,
    /// Exactly these origins (scheme, host and optional port, compared case-insensitively).
    List(Arc<[String]>),
    /// Any origin (only for servers that no browser can reach).
    Any,
}

impl OriginPolicy {
    /// Whether a request carrying this `Origin` header is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            Self::Loopback => is_loopback_origin(origin),
        }
    }
}

/// Which `Host` header values (HTTP/2 `:authority`) the endpoint accepts: the DNS-rebinding
/// defence for servers on loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostPolicy {
    /// `localhost`, `127.0.0.1` and `[::1]`; on `port` when given (the default: any port).
    Loopback {
        /// The port the server is bound to, when known.
        port: Option<u16>,
    },
    /// Exactly these hosts (`name` or `name:port`, compared case-insensitively).
    List(Arc<[String]>),
    /// Any host (for servers behind a proxy that checks `Host` itself).
    Any,
}

impl HostPolicy {
    /// Whether a request carrying this `Host` is allowed. A request without one (HTTP/1.0,
    /// in-process calls) is not a browser and is allowed.
    pub fn allows(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => list.iter().any(|h| h.eq_ignore_ascii_case(host)),
            Self::Loopback { port } => {
                let (name, host_port) = split_host_port(host);
                let port_ok = match (port, host_port) {
                    (_, None) => true,
                    (None, Some(p)) => p.parse::<u16>().is_ok(),
                    (Some(expected), Some(p)) => p.parse::<u16>().ok() == Some(*expected),
                };
                port_ok && is_loopback_name(name)
            }
        }
    }
}

/// `host[:port]` or `[v6][:port]` split into the host (brackets removed) and the port text.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(bracketed) = authority.strip_prefix('[') {
        return match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, rest)) => (host, Some(rest.strip_prefix(':').unwrap_or("x"))),
            None => ("", None),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1"
}

/// `http(s)://` + a loopback host + an optional numeric port, nothing else.
fn is_loopback_origin(origin: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some(parts) => parts,
            None => return false,
        },
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok
        && matches!(
            host.to_ascii_lowercase().as_str(),
            "localhost" | "127.0.0.1" | "::1"
        )
}

/// Configuration of [`McpService`](super::McpService). Build with [`McpConfig::builder`].
///
/// ```
/// use mcp_bastion::mcp::McpConfig;
///
/// let config = McpConfig::builder()
///     .mcp_path("/mcp")
///     .body_limit(512 * 1024)
///     .allowed_origins(["https://app.example.com"])
///     .server_name("docs-context")
///     .build()?;
/// assert_eq!(config.mcp_path(), "/mcp");
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct McpConfig {
    pub(crate) mcp_path: String,
    pub(crate) body_limit: usize,
    pub(crate) origins: OriginPolicy,
    pub(crate) hosts: HostPolicy,
    pub(crate) sessions: Option<SessionSettings>,
    pub(crate) empty_tools_and_prompts: bool,
    pub(crate) page_size: usize,
    pub(crate) max_batch: usize,
    pub(crate) uri_mapping: ResourceUriMapping,
    pub(crate) server_name: String,
    pub(crate) server_version: String,
    pub(crate) instructions: Option<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            mcp_path: "/mcp".to_owned(),
            body_limit: DEFAULT_BODY_LIMIT,
            origins: OriginPolicy::Loopback,
            hosts: HostPolicy::Loopback { port: None },
            sessions: None,
            empty_tools_and_prompts: false,
            page_size: DEFAULT_PAGE_SIZE,
            max_batch: DEFAULT_MAX_BATCH,
            uri_mapping: ResourceUriMapping::default(),
            server_name: "mcp-bastion".to_owned(),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            instructions: None,
        }
    }
}

impl McpConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> McpConfigBuilder {
        McpConfigBuilder {
            config: Self::default(),
            origins: None,
            hosts: None,
            sessions: false,
            max_sessions: DEFAULT_MAX_SESSIONS,
            session_idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT,
        }
    }

    /// The path of the MCP endpoint.
    pub fn mcp_path(&self) -> &str {
        &self.mcp_path
    }

    /// The request body limit in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The resource URI mapping.
    pub fn uri_mapping(&self) -> &ResourceUriMapping {
        &self.uri_mapping
    }

    /// The origin policy.
    pub fn origins(&self) -> &OriginPolicy {
        &self.origins
    }

    /// The host policy.
    pub fn hosts(&self) -> &HostPolicy {
        &self.hosts
    }
}

/// Limits of the stateful-era session store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionSettings {
    pub(crate) max_sessions: std::num::NonZeroUsize,
    pub(crate) idle_timeout: std::time::Duration,
}

/// Default most live sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// Default idle time after which a session ends.
pub const DEFAULT_SESSION_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Builder of [`McpConfig`]; [`build`](Self::build) validates everything.
#[derive(Debug, Clone)]
#[must_use]
pub struct McpConfigBuilder {
    config: McpConfig,
    origins: Option<Vec<String>>,
    hosts: Option<Vec<String>>,
    sessions: bool,
    max_sessions: usize,
    session_idle_timeout: std::time::Duration,
}

impl McpConfigBuilder {
    /// Path of the MCP endpoint (default `/mcp`).
    pub fn mcp_path(mut self, path: impl Into<String>) -> Self {
        self.config.mcp_path = path.into();
        self
    }

    /// Largest accepted request body in bytes (default 1 MiB); larger bodies get 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// Accept only these `Origin`s (instead of the loopback default).
    pub fn allowed_origins<I, O>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = O>,
        O: Into<String>,
    {
        self.origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Accept requests from any `Origin`.
    pub fn allow_any_origin(mut self) -> Self {
        self.origins = None;
        self.config.origins = OriginPolicy::Any;
        self
    }

    /// Accept only these `Host` values (`name` or `name:port`) instead of loopback names.
    /// Needed for any server reachable under a public name.
    pub fn allowed_hosts<I, H>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = H>,
        H: Into<String>,
    {
        self.hosts = Some(hosts.into_iter().map(Into::into).collect());
        self
    }

    /// Accept loopback `Host` values only on this port (the port the server is bound to).
    pub fn loopback_port(mut self, port: u16) -> Self {
        self.hosts = None;
        self.config.hosts = HostPolicy::Loopback { port: Some(port) };
        self
    }

    /// Accept any `Host` (when a proxy in front validates it).
    pub fn allow_any_host(mut self) -> Self {
        self.hosts = None;
        self.config.hosts = HostPolicy::Any;
        self
    }

    /// Issue an `Mcp-Session-Id` on `initialize` and require it on later stateful-era
    /// requests (400 without it, 404 once ended); DELETE ends a session. Off by default: the
    /// endpoint is stateless.
    pub fn sessions(mut self, enabled: bool) -> Self {
        self.sessions = enabled;
        self
    }

    /// Most live sessions (default 10,000); beyond it the least recently used one ends.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max;
        self
    }

    /// Idle time after which a session ends (default one hour).
    pub fn session_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.session_idle_timeout = idle;
        self
    }

    /// Declare the `tools` and `prompts` capabilities and answer `tools/list` and
    /// `prompts/list` with empty lists, for clients that always ask (off by default: then
    /// both are unknown methods).
    pub fn empty_tool_and_prompt_lists(mut self, enabled: bool) -> Self {
        self.config.empty_tools_and_prompts = enabled;
        self
    }

    /// Page size of listings when the client gives none (default 100, at most 1000).
    pub fn page_size(mut self, size: usize) -> Self {
        self.config.page_size = size;
        self
    }

    /// Most ids in one REST batch read (default 100).
    pub fn max_batch(mut self, size: usize) -> Self {
        self.config.max_batch = size;
        self
    }

    /// How resource URIs map to context ids.
    pub fn uri_mapping(mut self, mapping: ResourceUriMapping) -> Self {
        self.config.uri_mapping = mapping;
        self
    }

    /// Name reported in `serverInfo`.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.config.server_name = name.into();
        self
    }

    /// Version reported in `serverInfo` (default: this crate's version).
    pub fn server_version(mut self, version: impl Into<String>) -> Self {
        self.config.server_version = version.into();
        self
    }

    /// Instructions returned by `initialize` and `server/discover`.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.config.instructions = Some(instructions.into());
        self
    }

    /// Validates and returns the configuration.
    pub fn build(mut self) -> Result<McpConfig, ConfigError> {
        let path = &self.config.mcp_path;
        if !path.starts_with('/') || path.len() < 2 || path.contains(['?', '#']) {
            return Err(ConfigError::new(format!(
                "mcp_path {path:?} must start with '/' and name a path (no query or fragment)"
            )));
        }
        if path == "/context" || path.starts_with("/context/") {
            return Err(ConfigError::new(format!(
                "mcp_path {path:?} collides with the REST routes under /context"
            )));
        }
        if self.config.body_limit == 0 {
            return Err(ConfigError::new("body_limit must be at least 1 byte"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.config.page_size) {
            return Err(ConfigError::new(format!(
                "page_size {} must be between 1 and {MAX_PAGE_SIZE}",
                self.config.page_size
            )));
        }
        if self.config.max_batch == 0 {
            return Err(ConfigError::new("max_batch must be at least 1"));
        }
        if let Some(origins) = self.origins.take() {
            for origin in &origins {
                let valid = origin.split_once("://").is_some_and(|(scheme, host)| {
                    !scheme.is_empty() && !host.is_empty() && !host.contains('/')
                });
                if !valid {
                    return Err(ConfigError::new(format!(
                        "allowed origin {origin:?} must look like scheme://host[:port]"
                    )));
                }
            }
            self.config.origins = OriginPolicy::List(origins.into());
        }
        if let Some(hosts) = self.hosts.take() {
            if let Some(bad) = hosts
                .iter()
                .find(|h| h.is_empty() || h.contains(['/', ' ', '@']))
            {
                return Err(ConfigError::new(format!(
                    "allowed host {bad:?} must look like name or name:port"
                )));
            }
            self.config.hosts = HostPolicy::List(hosts.into());
        }
        if self.sessions {
            let max_sessions = std::num::NonZeroUsize::new(self.max_sessions)
                .ok_or_else(|| ConfigError::new("max_sessions must be at least 1"))?;
            if self.session_idle_timeout.is_zero() {
                return Err(ConfigError::new(
                    "session_idle_timeout must be longer than zero",
                ));
            }
            self.config.sessions = Some(SessionSettings {
                max_sessions,
                idle_timeout: self.session_idle_timeout,
            });
        }
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins() {
        let policy = OriginPolicy::Loopback;
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://[::1]:3000",
            "HTTP://LOCALHOST",
        ] {
            assert!(policy.allows(ok), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "null",
            "file://localhost",
            "http://[::2]:3000",
            "",
        ] {
            assert!(!policy.allows(bad), "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        let any_port = HostPolicy::Loopback { port: None };
        for ok in [
            "localhost",
            "localhost:3000",
            "127.0.0.1:1",
            "[::1]:3000",
            "[::1]",
            "LOCALHOST",
        ] {
            assert!(any_port.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "evil.example.com:3000",
            "localhost:x",
            "127.0.0.2",
            "[::1]x",
            "",
            "localhost.evil",
        ] {
            assert!(!any_port.allows(bad), "{bad}");
        }
        let bound = HostPolicy::Loopback { port: Some(3000) };
        assert!(bound.allows("localhost:3000"));
        assert!(bound.allows("127.0.0.1"));
        assert!(!bound.allows("localhost:3001"));
        let config = McpConfig::builder()
            .allowed_hosts(["mcp.example.com"])
            .build()
            .unwrap();
        assert!(config.hosts().allows("MCP.example.com"));
        assert!(!config.hosts().allows("localhost"));
        assert!(McpConfig::builder().allowed_hosts(["a/b"]).build().is_err());
        assert!(
            McpConfig::builder()
                .sessions(true)
                .max_sessions(0)
                .build()
                .is_err()
        );
    }

    #[test]
    fn listed_origins_and_validation() {
        let config = McpConfig::builder()
            .allowed_origins(["https://app.example.com"])
            .build()
            .unwrap();
        assert!(config.origins().allows("https://APP.example.com"));
        assert!(!config.origins().allows("http://localhost"));
        assert!(
            McpConfig::builder()
                .allowed_origins(["nope"])
                .build()
                .is_err()
        );
        assert!(McpConfig::builder().mcp_path("mcp").build().is_err());
        assert!(
            McpConfig::builder()
                .mcp_path("/context/mcp")
                .build()
                .is_err()
        );
        assert!(McpConfig::builder().body_limit(0).build().is_err());
        let err = McpConfig::builder().page_size(5000).build().unwrap_err();
        assert!(err.to_string().contains("page_size"));
    }
}
