//! Protocol constants: versions, eras, header and `_meta` names.

/// The stateless protocol revision (`server/discover`, per-request `_meta`).
pub const MODERN_VERSION: &str = "2026-07-28";

/// Stateful revisions (initialize handshake), newest first.
pub const LEGACY_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// The revision assumed when a stateful request has no `MCP-Protocol-Version` header.
pub const DEFAULT_LEGACY_VERSION: &str = "2025-03-26";

/// Every revision this endpoint speaks, newest first.
pub const SUPPORTED_VERSIONS: [&str; 4] =
    [MODERN_VERSION, "2025-11-25", "2025-06-18", "2025-03-26"];

/// `MCP-Protocol-Version` request header.
pub const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// `Mcp-Method` request header (2026-07-28).
pub const HEADER_METHOD: &str = "mcp-method";
/// `Mcp-Name` request header (2026-07-28).
pub const HEADER_NAME: &str = "mcp-name";
/// `Mcp-Session-Id` header (stateful revisions).
pub const HEADER_SESSION_ID: &str = "mcp-session-id";

/// `_meta` key carrying the protocol version of a 2026-07-28 request.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key carrying the client capabilities of a 2026-07-28 request.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key identifying the server on 2026-07-28 results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// `_meta` key marking a `resources/read` result whose context is still being generated
/// (asynchronous generation): `{"retryAfterMs": <ms>, "message": "..."}`. Its `contents` are
/// empty; read the resource again after `retryAfterMs`.
pub const META_PENDING: &str = "io.github.mcp-bastion/pending";

/// `resultType` of a 2026-07-28 `resources/read` result whose context is still being
/// generated; it also carries `retryAfterMs` (and [`META_PENDING`] in `_meta`).
pub const RESULT_TYPE_PENDING: &str = "pending";

/// Which generation of the protocol a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Era {
    /// 2025-03-26 .. 2025-11-25: `initialize` handshake, optional sessions.
    Legacy,
    /// 2026-07-28: stateless, every request self-describing.
    Modern,
}

/// The newest stateful revision not newer than what the client asked for, or the newest
/// stateful revision when the client's is unknown (MCP version negotiation).
pub fn negotiate_legacy(requested: &str) -> &'static str {
    LEGACY_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(LEGACY_VERSIONS[0])
}

/// The `&'static` spelling of a supported stateful version.
pub fn legacy_version(value: &str) -> Option<&'static str> {
    LEGACY_VERSIONS.iter().find(|v| **v == value).copied()
}

/// `resources/read` `_meta` key of a selection (this crate's extension): the same value as
/// a `select` param, a JSON Pointer or text range, or an array of them.
pub const META_SELECT: &str = "io.github.mcp-bastion/select";
/// `resources/read` `_meta` key of the page size of a selection (as a `limit` param).
pub const META_LIMIT: &str = "io.github.mcp-bastion/limit";
/// `resources/read` `_meta` key of the cursor of a selection (as a `cursor` param).
pub const META_CURSOR: &str = "io.github.mcp-bastion/cursor";
/// `_meta` key, in the contents of a selected `resources/read` result, of what was selected
/// (a [`Selection`](super::wire::Selection)).
pub const META_SELECTION: &str = "io.github.mcp-bastion/selection";
