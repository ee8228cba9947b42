//! [`ClientError`]: what can go wrong with a call of [`McpClient`](super::McpClient), with the
//! server's error envelope decoded apart from transport failures.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::client::breaker::CircuitOpen;
use crate::error::BoxError;
use crate::facts::loggable;

/// Why a call of [`McpClient`](super::McpClient) failed.
///
/// ```
/// use mcp_bastion::client::ClientError;
///
/// fn advice(err: &ClientError) -> &'static str {
///     match err {
///         ClientError::Server(answer) if answer.status.as_u16() == 403 => "ask for access",
///         ClientError::Server(answer) if answer.retry_after.is_some() => "come back later",
///         ClientError::CircuitOpen(_) | ClientError::Transport(_) => "the server is down",
///         _ => "something else",
///     }
/// }
/// # let _ = advice;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The server refused or failed the call; its error envelope, decoded.
    Server(Box<ServerError>),
    /// The circuit breaker is open: no request was sent.
    CircuitOpen(CircuitOpen),
    /// No complete answer within the client's deadline.
    Timeout,
    /// The exchange failed below HTTP: connect, TLS, a reset, or a body cut off.
    Transport(BoxError),
    /// The answer was larger than the client's response size limit; it was not read further.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The answer is not what the protocol says it must be (not JSON, the wrong shape or
    /// content type, a JSON-RPC answer to another request).
    InvalidResponse {
        /// The HTTP status of the answer.
        status: StatusCode,
        /// What was wrong with it.
        reason: String,
    },
    /// The call could not be made as asked (an id or URI that cannot be sent).
    InvalidRequest(String),
}

/// The server's answer to a failed call: its status and, when it sent one, its error envelope
/// (REST `{"code","message","details","requestId"}` or a JSON-RPC `error`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerError {
    /// The HTTP status (a JSON-RPC error may come with `200 OK`).
    pub status: StatusCode,
    /// The stable error code (`FORBIDDEN`, `RATE_LIMITED`, ...), when the envelope has one.
    pub code: Option<String>,
    /// The JSON-RPC error code (`-32602`, ...), for MCP calls.
    pub json_rpc_code: Option<i64>,
    /// The server's message, or the status's reason when it sent none.
    pub message: String,
    /// The server's request id (`requestId` / `data.requestId`, or `x-request-id`).
    pub request_id: Option<String>,
    /// How long the server asked the client to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// The envelope's `details` (or the JSON-RPC `data`), as sent.
    pub details: Option<Value>,
}

impl ServerError {
    /// From a REST error answer: the envelope when the body is one, else the status alone.
    pub(crate) fn from_rest(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let envelope: Option<Value> = serde_json::from_slice(body).ok();
        let member = |name: &str| {
            envelope
                .as_ref()
                .and_then(|body| body.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let mut error = Self::bare(status, headers);
        error.code = member("code");
        if let Some(message) = member("message") {
            error.message = message;
        }
        if let Some(id) = member("requestId") {
            error.request_id = Some(id);
        }
        error.details = envelope
            .as_ref()
            .and_then(|body| body.get("details"))
            .cloned();
        error
    }

    /// From a JSON-RPC `error` object (`{"code","message","data"}`).
    pub(crate) fn from_rpc(status: StatusCode, headers: &HeaderMap, error: &Value) -> Self {
        let mut decoded = Self::bare(status, headers);
        decoded.json_rpc_code = error.get("code").and_then(Value::as_i64);
        if let Some(message) = error.get("message").and_then(Value::as_str) {
            message.clone_into(&mut decoded.message);
        }
        let data = error.get("data");
        let data_str = |name: &str| {
            data.and_then(|data| data.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        decoded.code = data_str("code");
        if let Some(id) = data_str("requestId") {
            decoded.request_id = Some(id);
        }
        decoded.details = data.cloned();
        decoded
    }

    /// The status and headers alone: for answers without an envelope (a proxy's page).
    pub(crate) fn bare(status: StatusCode, headers: &HeaderMap) -> Self {
        Self {
            status,
            code: None,
            json_rpc_code: None,
            message: status.canonical_reason().unwrap_or("error").to_owned(),
            request_id: headers
                .get("x-request-id")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            retry_after: crate::client::retry::retry_after(headers),
            details: None,
        }
    }
}

impl fmt::Display for ServerError {
    // Every server-chosen string goes through `loggable`: bounded, no control characters, so
    // a hostile server cannot flood or forge a log line through an error message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the server answered {}", self.status.as_u16())?;
        if let Some(code) = &self.code {
            write!(f, " {}", loggable(code))?;
        }
        if let Some(code) = self.json_rpc_code {
            write!(f, " (JSON-RPC {code})")?;
        }
        write!(f, ": {}", loggable(&self.message))?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {})", loggable(id))?;
        }
        if let Some(after) = self.retry_after {
            write!(f, "; retry after {} s", after.as_secs())?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server(error) => error.fmt(f),
            Self::CircuitOpen(open) => open.fmt(f),
            Self::Timeout => f.write_str("no complete answer within the deadline"),
            Self::Transport(error) => {
                // hyper's errors say what failed in their sources ("client error (Connect)"
                // alone says little): the chain, as far as it goes.
                // Made printable and bounded like the server's text: a TLS alert or a peer's
                // certificate names can end up in these messages.
                write!(f, "transport failure: {}", loggable(&error.to_string()))?;
                let mut source = error.source();
                while let Some(cause) = source {
                    write!(f, ": {}", loggable(&cause.to_string()))?;
                    source = cause.source();
                }
                Ok(())
            }
            Self::TooLarge { limit } => {
                write!(f, "the answer is larger than the limit of {limit} bytes")
            }
            Self::InvalidResponse { status, reason } => {
                write!(
                    f,
                    "invalid answer (status {}): {}",
                    status.as_u16(),
                    loggable(reason)
                )
            }
            Self::InvalidRequest(reason) => write!(f, "invalid request: {reason}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Server(error) => Some(error.as_ref()),
            Self::CircuitOpen(open) => Some(open),
            Self::Transport(error) => Some(error.as_ref()),
            _ => None,
        }
    }
}

impl ClientError {
    /// The error of the service stack: the breaker's refusal, a deadline, or the transport.
    pub(crate) fn from_service(error: BoxError) -> Self {
        let error = match error.downcast::<CircuitOpen>() {
            Ok(open) => return Self::CircuitOpen(*open),
            Err(error) => error,
        };
        if error.is::<tower::timeout::error::Elapsed>() {
            return Self::Timeout;
        }
        Self::Transport(error)
    }

    pub(crate) fn invalid(status: StatusCode, reason: impl Into<String>) -> Self {
        Self::InvalidResponse {
            status,
            reason: reason.into(),
        }
    }

    /// The server's error, when the server answered one.
    pub fn server(&self) -> Option<&ServerError> {
        match self {
            Self::Server(error) => Some(error),
            _ => None,
        }
    }
}
