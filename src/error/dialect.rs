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

/// Tells the [`Dialect`] of a request from its path and `Content-Type`: the one rule every
/// layer and the endpoint use.
///
/// gRPC is recognised by an `application/grpc*` content type, JSON-RPC by the MCP endpoint
/// path, REST by the REST prefix (the prefix itself or a path below it). Get the detector of
/// your endpoint from [`Endpoint::dialect_detector`](crate::mcp::Endpoint::dialect_detector).
///
/// ```
/// use http::{HeaderMap, Uri};
/// use mcp_bastion::error::{Dialect, DialectDetector};
///
/// let detector = DialectDetector::new("/mcp", "/context");
/// let headers = HeaderMap::new();
/// assert_eq!(detector.detect(&Uri::from_static("/mcp"), &headers), Dialect::JsonRpc);
/// assert_eq!(detector.detect(&Uri::from_static("/context/a"), &headers), Dialect::Rest);
/// assert_eq!(detector.rest_suffix("/context"), Some(""));
/// assert_eq!(detector.rest_suffix("/context/a/b"), Some("/a/b"));
/// assert_eq!(detector.rest_suffix("/contextual"), None);
/// ```
#[derive(Debug, Clone)]
pub struct DialectDetector {
    paths: Arc<Paths>,
}

#[derive(Debug)]
struct Paths {
    json_rpc: String,
    rest: String,
}

impl DialectDetector {
    /// A detector for an MCP endpoint at `json_rpc_path` and a REST API under `rest_prefix`
    /// (both as configured, e.g. `/mcp` and `/context`).
    pub fn new(json_rpc_path: impl Into<String>, rest_prefix: impl Into<String>) -> Self {
        Self {
            paths: Arc::new(Paths {
                json_rpc: json_rpc_path.into(),
                rest: rest_prefix.into(),
            }),
        }
    }

    /// The dialect of a request with this URI and these headers.
    pub fn detect(&self, uri: &Uri, headers: &HeaderMap) -> Dialect {
        if is_grpc(headers) {
            return Dialect::Grpc;
        }
        let path = uri.path();
        if self.is_json_rpc_path(path) {
            Dialect::JsonRpc
        } else if self.rest_suffix(path).is_some() {
            Dialect::Rest
        } else {
            Dialect::Other
        }
    }

    /// Whether `path` is the MCP endpoint.
    pub fn is_json_rpc_path(&self, path: &str) -> bool {
        path == self.paths.json_rpc
    }

    /// What follows the REST prefix: `Some("")` for the prefix itself (the collection),
    /// `Some("/a/b")` for `{prefix}/a/b`, `None` outside the REST API.
    pub fn rest_suffix<'p>(&self, path: &'p str) -> Option<&'p str> {
        path.strip_prefix(self.paths.rest.as_str())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// Whether the `Content-Type` says gRPC (`application/grpc`, `application/grpc+proto`, ...).
fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
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
