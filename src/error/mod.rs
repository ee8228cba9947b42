//! The one error format of the crate: [`Rejection`], its stable [`ErrorCode`]s, and how it is
//! rendered for each [`Dialect`] (REST JSON, JSON-RPC, gRPC).
//!
//! Every layer that refuses a request answers with [`Rejection::into_response`]: the body is
//! already the right envelope for the caller's dialect, and the typed `Rejection` rides along
//! in the response extensions so that
//! [`ErrorEnvelopeLayer`](crate::envelope::ErrorEnvelopeLayer) and access logs see the reason.
//!
//! ```
//! use mcp_bastion::error::{Dialect, ErrorCode, Rejection};
//!
//! let response = Rejection::new(ErrorCode::Forbidden, "not authorized to access this context")
//!     .into_response(Dialect::Rest);
//! assert_eq!(response.status(), 403);
//! assert!(response.extensions().get::<Rejection>().is_some());
//! ```

mod body;
mod dialect;
mod render;

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use serde_json::Value;

pub use body::BodyOrEnvelope;
pub(crate) use dialect::is_json_content_type;
pub use dialect::{Dialect, DialectDetector};
pub(crate) use render::{Rendered, refuses_credential};
pub(crate) use render::{json_bytes, json_bytes_response, json_response, retry_after_seconds};

/// Stable, machine-readable error codes shared by every dialect.
///
/// The REST envelope carries them verbatim in `code`; JSON-RPC errors carry them in
/// `error.data.code`; gRPC maps them to a `grpc-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is malformed (400).
    BadRequest,
    /// No valid credential was presented (401).
    Unauthorized,
    /// The caller is known but not allowed (403).
    Forbidden,
    /// The target does not exist (404).
    NotFound,
    /// The path exists but not for this HTTP method (405).
    MethodNotAllowed,
    /// The `Accept` header excludes every representation we can send (406).
    NotAcceptable,
    /// The request body is larger than the configured limit (413).
    PayloadTooLarge,
    /// The request body has a content type we do not read (415).
    UnsupportedMediaType,
    /// The caller exceeded its quota (429).
    RateLimited,
    /// A bug of ours or a failure of a context source (500).
    Internal,
    /// An upstream dependency answered badly (502).
    BadGateway,
    /// The server is overloaded or a dependency is down (503).
    Unavailable,
    /// The request took longer than its deadline (504).
    Timeout,
}

impl ErrorCode {
    /// The code as it appears on the wire, e.g. `"NOT_FOUND"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::NotAcceptable => "NOT_ACCEPTABLE",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL",
            Self::BadGateway => "BAD_GATEWAY",
            Self::Unavailable => "UNAVAILABLE",
            Self::Timeout => "TIMEOUT",
        }
    }

    /// The HTTP status this code is sent with unless a rejection overrides it.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The code that best describes an HTTP status, used to normalise error responses that
    /// an inner service produced without an envelope.
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 | 410 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            406 => Self::NotAcceptable,
            408 | 504 => Self::Timeout,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            429 => Self::RateLimited,
            502 => Self::BadGateway,
            503 => Self::Unavailable,
            500..=599 => Self::Internal,
            _ => Self::BadRequest,
        }
    }

    /// The gRPC status code (`grpc-status`) for this error.
    pub const fn grpc_status(self) -> u8 {
        match self {
            Self::BadRequest | Self::PayloadTooLarge | Self::UnsupportedMediaType => 3,
            Self::Timeout => 4,
            Self::NotFound => 5,
            Self::Forbidden => 7,
            Self::RateLimited => 8,
            Self::MethodNotAllowed | Self::NotAcceptable => 12,
            Self::Internal | Self::BadGateway => 13,
            Self::Unavailable => 14,
            Self::Unauthorized => 16,
        }
    }

    /// The JSON-RPC error code used when a rejection does not name a more precise one.
    ///
    /// Only codes the JSON-RPC and MCP specifications define are used; the stable
    /// [`ErrorCode`] travels in `error.data.code`.
    pub const fn json_rpc_code(self) -> i64 {
        match self {
            Self::Internal | Self::BadGateway | Self::Unavailable | Self::Timeout => {
                jsonrpc::INTERNAL_ERROR
            }
            Self::MethodNotAllowed | Self::NotFound => jsonrpc::METHOD_NOT_FOUND,
            _ => jsonrpc::INVALID_REQUEST,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// JSON-RPC and MCP error codes, as the specifications define them.
pub mod jsonrpc {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters (also "resource not found" from 2026-07-28 on).
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Resource not found, protocol revisions up to 2025-11-25.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// A standard MCP header is missing or does not match the body (2026-07-28).
    pub const HEADER_MISMATCH: i64 = -32020;
    /// The requested protocol version is not supported (2026-07-28).
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

/// JSON-RPC specific parts of a rejection: the request id to answer and a precise code.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonRpcError {
    /// The id of the request being answered (`null` when it could not be read).
    pub id: Value,
    /// The JSON-RPC error code.
    pub code: i64,
    /// The `error.data` member; when `None` the envelope's own data is used.
    pub data: Option<Value>,
}

/// A refused request: what went wrong, in a form every dialect can render.
///
/// Build one with [`Rejection::new`] and the `with_*` methods, then answer with
/// [`Rejection::into_response`].
#[derive(Debug, Clone)]
pub struct Rejection {
    // Boxed: a rejection travels in `Result::Err` on every path, keep that one word.
    inner: Box<RejectionParts>,
}

#[derive(Debug, Clone)]
struct RejectionParts {
    code: ErrorCode,
    status: StatusCode,
    message: Cow<'static, str>,
    details: Option<Value>,
    retry_after: Option<Duration>,
    www_authenticate: Option<HeaderValue>,
    allow: Option<HeaderValue>,
    json_rpc: Option<JsonRpcError>,
}

impl Rejection {
    /// A rejection with the code's default status.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            inner: Box::new(RejectionParts {
                code,
                status: code.status(),
                message: message.into(),
                details: None,
                retry_after: None,
                www_authenticate: None,
                allow: None,
                json_rpc: None,
            }),
        }
    }

    /// `400 BAD_REQUEST` with this message.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// `404 NOT_FOUND` with this message.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// `500 INTERNAL` with a message that reveals nothing about the cause.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal server error")
    }

    /// `405 METHOD_NOT_ALLOWED` listing the methods the path accepts.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut rejection = Self::new(ErrorCode::MethodNotAllowed, "method not allowed");
        rejection.inner.allow = Some(HeaderValue::from_static(allow));
        rejection
    }

    /// Overrides the HTTP status (for example 200 for a JSON-RPC error inside a valid
    /// exchange).
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.inner.status = status;
        self
    }

    /// Attaches machine-readable details (`details` in REST, `data.details` in JSON-RPC).
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.inner.details = Some(details);
        self
    }

    /// Asks the client to wait before retrying (`Retry-After`, rounded up to seconds).
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.inner.retry_after = Some(after);
        self
    }

    /// Sets the `WWW-Authenticate` challenge sent with the response.
    #[must_use]
    pub fn with_www_authenticate(mut self, challenge: HeaderValue) -> Self {
        self.inner.www_authenticate = Some(challenge);
        self
    }

    /// Sets the JSON-RPC id, code and data used when the rejection is rendered as JSON-RPC.
    #[must_use]
    pub fn with_json_rpc(mut self, json_rpc: JsonRpcError) -> Self {
        self.inner.json_rpc = Some(json_rpc);
        self
    }

    /// Sets the JSON-RPC id to answer, keeping the JSON-RPC code and data already chosen
    /// (or the code's default when none was).
    #[must_use]
    pub fn with_json_rpc_id(self, id: Value) -> Self {
        let rpc = self.json_rpc().cloned().unwrap_or(JsonRpcError {
            id: Value::Null,
            code: self.code().json_rpc_code(),
            data: None,
        });
        self.with_json_rpc(JsonRpcError { id, ..rpc })
    }

    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        self.inner.code
    }

    /// The HTTP status the response carries.
    pub fn status(&self) -> StatusCode {
        self.inner.status
    }

    /// The human-readable message sent to the client.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Machine-readable details, if any.
    pub fn details(&self) -> Option<&Value> {
        self.inner.details.as_ref()
    }

    /// The suggested retry delay, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The JSON-RPC specifics, if any.
    pub fn json_rpc(&self) -> Option<&JsonRpcError> {
        self.inner.json_rpc.as_ref()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.inner.code.as_str().to_ascii_lowercase(),
            self.inner.message
        )
    }
}

impl std::error::Error for Rejection {}

/// A body held whole in memory: every envelope, and every answer [`McpService`](crate::mcp::McpService) builds.
pub type FullBody = http_body_util::Full<bytes::Bytes>;

/// A request body that did not arrive whole within the server's body read timeout
/// ([`ServerConfig`](crate::server::ServerConfig)); the layers that read bodies answer it
/// with 408.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyReadTimeout;

impl fmt::Display for BodyReadTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body did not arrive within the body read timeout")
    }
}

impl std::error::Error for BodyReadTimeout {}

/// A boxed error, as tower uses.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[cfg(test)]
mod tests;

/// A configuration value that could not be used; the message says which and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    /// A configuration error with this explanation.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl ConfigError {
    /// The explanation, without the `invalid configuration:` prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.message)
    }
}

impl std::error::Error for ConfigError {}
