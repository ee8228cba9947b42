//! Which error format a caller understands, told from the path and content type alone so that
//! no layer needs the MCP classifier to answer in the caller's dialect.

use std::sync::Arc;

use http::{HeaderMap, Uri, header};

/// The wire dialect a request speaks, which decides how its errors are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// The REST API (`/context/...`): errors are `{"code","message",...}` JSON.
    Rest,
    /// JSON-RPC on the MCP endpoint: errors are JSON-RPC error objects.
    JsonRpc,
    /// gRPC: errors are a trailers-only response with `grpc-status`.
    Grpc,
    /// Anything else: errors use the REST JSON shape.
    Other,
}

/// Tells the [`Dialect`] of a request from its path and `Content-Type`.
///
/// gRPC is recognised by an `application/grpc*` content type, JSON-RPC by one of the
/// configured MCP endpoint paths (default `/mcp`), REST by the `/context` prefix.
///
/// ```
/// use http::{HeaderMap, Uri};
/// use mcp_bastion::error::{Dialect, DialectDetector};
///
/// let detector = DialectDetector::default();
/// let headers = HeaderMap::new();
/// assert_eq!(detector.detect(&Uri::from_static("/mcp"), &headers), Dialect::JsonRpc);
/// assert_eq!(detector.detect(&Uri::from_static("/context/a"), &headers), Dialect::Rest);
/// ```
#[derive(Debug, Clone)]
pub struct DialectDetector {
    json_rpc_paths: Arc<[String]>,
}

impl Default for DialectDetector {
    fn default() -> Self {
        Self::new(["/mcp"])
    }
}

impl DialectDetector {
    /// A detector that treats the given paths as JSON-RPC (MCP) endpoints.
    pub fn new<I, P>(json_rpc_paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        Self {
            json_rpc_paths: json_rpc_paths.into_iter().map(Into::into).collect(),
        }
    }

    /// The dialect of a request with this URI and these headers.
    pub fn detect(&self, uri: &Uri, headers: &HeaderMap) -> Dialect {
        let is_grpc = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/grpc"));
        if is_grpc {
            return Dialect::Grpc;
        }
        let path = uri.path();
        if self.json_rpc_paths.iter().any(|p| p == path) {
            Dialect::JsonRpc
        } else if path == "/context" || path.starts_with("/context/") {
            Dialect::Rest
        } else {
            Dialect::Other
        }
    }
}

/// Whether the `Content-Type` is JSON: `application/json` (any parameters) or, when
/// `structured_suffix` is set, any `+json` type.
pub(crate) fn is_json_content_type(headers: &HeaderMap, structured_suffix: bool) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .is_some_and(|media| {
            media.eq_ignore_ascii_case("application/json")
                || (structured_suffix && media.to_ascii_lowercase().ends_with("+json"))
        })
}
