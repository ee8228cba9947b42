//! [`Endpoint`]: the one description of the endpoint (paths, URI mapping, limits, allowed
//! hosts and origins, resource metadata) that [`McpService`](super::McpService) and every
//! layer take. Each default of the crate's HTTP surface is written here and nowhere else.

use std::time::Duration;

use super::cursor::CursorKeys;
use super::generation::{AsyncGeneration, Settings as GenerationSettings};
use super::metadata::{Challenge, ResourceMetadata};
use super::origin::{HostPolicy, OriginPolicy};
use crate::context::ResourceUriMapping;
use crate::error::{ConfigError, DialectDetector};

/// Default path of the MCP endpoint.
pub const DEFAULT_MCP_PATH: &str = "/mcp";
/// Default prefix of the REST API (`GET /context/{id}`, `GET /context`, `POST /context`).
pub const DEFAULT_REST_PREFIX: &str = "/context";

/// Default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Default (and largest accepted) page sizes.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page a client may ask for with `limit`.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Most ids one REST batch read may name.
pub const DEFAULT_MAX_BATCH: usize = 100;
/// Most messages one JSON-RPC batch (protocol 2025-03-26) may hold.
pub const DEFAULT_MAX_RPC_BATCH: usize = 64;
/// Most bytes of answers one batch (REST or JSON-RPC) may produce; the calls past it are
/// answered with an error instead.
pub const DEFAULT_MAX_BATCH_RESPONSE: usize = 8 * 1024 * 1024;

/// Asynchronous generation: how long a read waits before answering "pending".
pub const DEFAULT_GENERATION_WAIT: Duration = Duration::from_secs(2);
/// Asynchronous generation: the `Retry-After` of a pending answer without a source estimate.
pub const DEFAULT_GENERATION_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Asynchronous generation: a job nobody asked about for this long is cancelled.
pub const DEFAULT_GENERATION_ABANDON_AFTER: Duration = Duration::from_secs(30);
/// Asynchronous generation: how long a finished result waits for its pickup.
pub const DEFAULT_GENERATION_KEEP_FOR: Duration = Duration::from_secs(60);
/// Asynchronous generation: how often a read answered with progress notifications gets one.
pub const DEFAULT_GENERATION_PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Asynchronous generation: the longest a read answered with progress notifications streams
/// before it ends with the pending result.
pub const DEFAULT_GENERATION_MAX_STREAM: Duration = Duration::from_secs(60);
/// Asynchronous generation: most jobs at once.
pub const DEFAULT_MAX_GENERATION_JOBS: usize = 1024;
/// Asynchronous generation: most jobs one caller holds at once.
pub const DEFAULT_MAX_GENERATION_JOBS_PER_CALLER: usize = 64;
/// Asynchronous generation: most source calls running at once for jobs.
pub const DEFAULT_MAX_CONCURRENT_GENERATIONS: usize = 32;

/// What the endpoint is: its MCP path and REST prefix, how resource URIs map to context ids,
/// body, page and batch limits, the hosts and origins it answers, its RFC 9728 resource
/// metadata, and what `initialize` reports. Build it once with [`Endpoint::builder`] and give
/// the same value to [`McpService`](super::McpService) and to every layer (or to
/// [`Stack`](crate::stack::Stack), which does that for you).
///
/// ```
/// use mcp_bastion::mcp::{Endpoint, ResourceMetadata};
///
/// let endpoint = Endpoint::builder()
///     .mcp_path("/mcp")
///     .body_limit(512 * 1024)
///     .allowed_origins(["https://app.example.com"])
///     .resource_metadata(ResourceMetadata::new("https://mcp.example.com/mcp")?)
///     .server_name("docs-context")
///     .build()?;
/// assert_eq!(endpoint.mcp_path(), "/mcp");
/// assert_eq!(endpoint.rest_prefix(), "/context");
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub(crate) mcp_path: String,
    pub(crate) rest_prefix: String,
    pub(crate) body_limit: usize,
    pub(crate) origins: OriginPolicy,
    pub(crate) hosts: HostPolicy,
    pub(crate) sessions: Option<SessionSettings>,
    pub(crate) empty_tools_and_prompts: bool,
    pub(crate) page_size: usize,
    pub(crate) max_batch: usize,
    pub(crate) max_rpc_batch: usize,
    pub(crate) max_batch_response: usize,
    pub(crate) uri_mapping: ResourceUriMapping,
    pub(crate) server_name: String,
    pub(crate) server_version: String,
    pub(crate) instructions: Option<String>,
    pub(crate) resource_metadata: Option<ResourceMetadata>,
    pub(crate) detector: DialectDetector,
    pub(crate) challenge: Challenge,
    pub(crate) cursor_keys: CursorKeys,
    pub(crate) generation: Option<GenerationSettings>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Self {
            mcp_path: DEFAULT_MCP_PATH.to_owned(),
            rest_prefix: DEFAULT_REST_PREFIX.to_owned(),
            body_limit: DEFAULT_BODY_LIMIT,
            origins: OriginPolicy::Loopback,
            hosts: HostPolicy::Loopback { port: None },
            sessions: None,
            empty_tools_and_prompts: false,
            page_size: DEFAULT_PAGE_SIZE,
            max_batch: DEFAULT_MAX_BATCH,
            max_rpc_batch: DEFAULT_MAX_RPC_BATCH,
            max_batch_response: DEFAULT_MAX_BATCH_RESPONSE,
            uri_mapping: ResourceUriMapping::default(),
            server_name: "mcp-bastion".to_owned(),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            instructions: None,
            resource_metadata: None,
            detector: DialectDetector::new(DEFAULT_MCP_PATH, DEFAULT_REST_PREFIX),
            challenge: Challenge::default(),
            cursor_keys: CursorKeys::default(),
            generation: None,
        }
    }
}

impl Endpoint {
    /// A builder starting from the defaults.
    pub fn builder() -> EndpointBuilder {
        EndpointBuilder {
            config: Self::default(),
            cursor_keys: None,
            origins: None,
            hosts: None,
            sessions: false,
            max_sessions: DEFAULT_MAX_SESSIONS,
            session_idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT,
            generation: None,
        }
    }

    /// The path of the MCP endpoint.
    pub fn mcp_path(&self) -> &str {
        &self.mcp_path
    }

    /// The prefix of the REST API (no trailing `/`).
    pub fn rest_prefix(&self) -> &str {
        &self.rest_prefix
    }

    /// How this endpoint's callers are told apart (REST, JSON-RPC, gRPC, other) so that
    /// refusals answer each in its own format.
    pub fn dialect_detector(&self) -> &DialectDetector {
        &self.detector
    }

    /// The RFC 9728 resource metadata, when the endpoint is an OAuth protected resource.
    pub fn resource_metadata(&self) -> Option<&ResourceMetadata> {
        self.resource_metadata.as_ref()
    }

    /// The `WWW-Authenticate` challenge builder pointing at the resource metadata.
    pub(crate) fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// Most ids one REST batch read may name.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Most messages one JSON-RPC batch may hold.
    pub fn max_rpc_batch(&self) -> usize {
        self.max_rpc_batch
    }

    /// Most bytes of answers one batch may produce.
    pub fn max_batch_response(&self) -> usize {
        self.max_batch_response
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

/// Builder of [`Endpoint`]; [`build`](Self::build) validates everything.
#[derive(Debug, Clone)]
#[must_use]
pub struct EndpointBuilder {
    config: Endpoint,
    /// Keys from a configured secret (never the secret itself: the builder is `Debug`).
    cursor_keys: Option<Result<CursorKeys, ConfigError>>,
    origins: Option<Vec<String>>,
    hosts: Option<Vec<String>>,
    sessions: bool,
    max_sessions: usize,
    session_idle_timeout: std::time::Duration,
    generation: Option<AsyncGeneration>,
}

impl EndpointBuilder {
    /// Path of the MCP endpoint (default `/mcp`).
    pub fn mcp_path(mut self, path: impl Into<String>) -> Self {
        self.config.mcp_path = path.into();
        self
    }

    /// Prefix of the REST API (default `/context`): `GET {prefix}/{id}`, `GET {prefix}`,
    /// `POST {prefix}`.
    pub fn rest_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.rest_prefix = prefix.into();
        self
    }

    /// Makes the endpoint an OAuth 2.1 protected resource described by this RFC 9728
    /// metadata: auth challenges (401 and 403 `insufficient_scope`) point at it and the
    /// metadata routes serve it.
    pub fn resource_metadata(mut self, metadata: ResourceMetadata) -> Self {
        self.config.resource_metadata = Some(metadata);
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

    /// Most messages in one JSON-RPC batch (default 64); larger batches get 400 (-32600).
    pub fn max_rpc_batch(mut self, size: usize) -> Self {
        self.config.max_rpc_batch = size;
        self
    }

    /// Most bytes of answers one batch may produce (default 8 MiB); the calls past it are
    /// answered with an error naming the limit.
    pub fn max_batch_response(mut self, bytes: usize) -> Self {
        self.config.max_batch_response = bytes;
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

    /// The secret that seals pagination cursors (at least 32 bytes). Give every instance
    /// behind one balancer the same secret so that a cursor from one is valid on the others;
    /// by default each process draws a random one.
    pub fn cursor_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.cursor_keys = Some(CursorKeys::from_secret(secret.as_ref()));
        self
    }

    /// Turn context reads slower than [`AsyncGeneration::wait`] into background generation
    /// jobs answered "pending" (REST `202 Accepted` + `Retry-After` + `Location`, MCP a
    /// pending result) until the context is ready. Off by default: a read waits for its
    /// source however long it takes (a source can still answer
    /// [`SourceError::Pending`](crate::context::SourceError::Pending) itself).
    pub fn async_generation(mut self, settings: AsyncGeneration) -> Self {
        self.generation = Some(settings);
        self
    }

    /// Validates and returns the description.
    pub fn build(mut self) -> Result<Endpoint, ConfigError> {
        for (what, path) in [
            ("mcp_path", &self.config.mcp_path),
            ("rest_prefix", &self.config.rest_prefix),
        ] {
            if !path.starts_with('/')
                || path.len() < 2
                || path.ends_with('/')
                || path.contains(['?', '#', '%'])
            {
                return Err(ConfigError::new(format!(
                    "{what} {path:?} must start with '/' and name a path (no trailing '/', query, fragment or escape)"
                )));
            }
        }
        let (path, prefix) = (&self.config.mcp_path, &self.config.rest_prefix);
        if path == prefix || path.starts_with(&format!("{prefix}/")) {
            return Err(ConfigError::new(format!(
                "mcp_path {path:?} collides with the REST routes under {prefix}"
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
        if self.config.max_batch == 0 || self.config.max_rpc_batch == 0 {
            return Err(ConfigError::new(
                "max_batch and max_rpc_batch must be at least 1",
            ));
        }
        if self.config.max_batch_response == 0 {
            return Err(ConfigError::new(
                "max_batch_response must be at least 1 byte",
            ));
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
        if let Some(settings) = self.generation.take() {
            self.config.generation = Some(settings.validate()?);
        }
        if let Some(keys) = self.cursor_keys.take() {
            self.config.cursor_keys = keys?;
        }
        self.config.detector = DialectDetector::new(path.clone(), prefix.clone());
        self.config.challenge = Challenge::new(self.config.resource_metadata.as_ref());
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests;
