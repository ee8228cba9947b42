//! What [`McpClient`](super::McpClient) returns: the endpoint's shapes (from
//! [`mcp::wire`](crate::mcp::wire)) with what the HTTP exchange said about them.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::ServerError;
use crate::client::cache::CacheOutcome;
use crate::mcp::wire::ContextEnvelope;

/// A context read over REST: the envelope, its `ETag`, and how the client cache answered.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Context {
    /// The context as the server sent it.
    pub envelope: ContextEnvelope<'static>,
    /// The answer's `ETag`, when it had one.
    pub etag: Option<String>,
    /// How the client cache answered: from memory, revalidated (`304`), or from the server;
    /// `None` without a cache.
    pub cache: Option<CacheOutcome>,
}

/// One id's outcome in a REST batch read.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BatchItem {
    /// The id asked for.
    pub context_id: String,
    /// The context, or the server's error for this id alone.
    pub result: Result<ContextEnvelope<'static>, ServerError>,
}

/// Which protocol generation the client and the server agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Era {
    /// 2026-07-28: stateless; `server/discover`, every request self-describing.
    Stateless,
    /// 2025-03-26 .. 2025-11-25: the `initialize` handshake.
    Initialized {
        /// The revision the server chose.
        version: String,
        /// The `Mcp-Session-Id` the server issued, when it issued one.
        session_id: Option<String>,
    },
}

/// The server, as `server/discover` or `initialize` described it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerDescription {
    /// The protocol generation in use.
    pub era: Era,
    /// The protocol revision of every later request.
    pub protocol_version: String,
    /// The server's `capabilities`.
    pub capabilities: Value,
    /// `serverInfo` (`initialize`), when sent.
    pub server_info: Option<Value>,
    /// The server's `instructions`, when sent.
    pub instructions: Option<String>,
}

/// One entry of a `resources/read` result: text or base64 `blob`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResourceContents {
    /// The resource's URI.
    pub uri: String,
    /// Its media type.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// The content, when it is text.
    #[serde(default)]
    pub text: Option<String>,
    /// The content in base64, when it is binary.
    #[serde(default)]
    pub blob: Option<String>,
}

/// A `resources/read` result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReadResult {
    /// The resource's contents (one entry for a context).
    pub contents: Vec<ResourceContents>,
    /// Members this type does not name (2026-07-28: `resultType`, `ttlMs`, `cacheScope`,
    /// `_meta`), as they came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}
