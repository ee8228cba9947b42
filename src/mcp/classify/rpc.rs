//! Reading a JSON-RPC POST to the MCP endpoint: parse the body once, tell the protocol era,
//! check the shape and every header rule of that era, and name each message's target.
//!
//! Everything here is a pure function of the headers and the body, so any layer can classify
//! a request the same way (and the fuzzers can drive it directly).

use http::header::HeaderMap;
use http::{HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use crate::error::{ErrorCode, JsonRpcError, Rejection, jsonrpc};
use crate::mcp::protocol::{
    DEFAULT_LEGACY_VERSION, Era, HEADER_METHOD, HEADER_NAME, HEADER_PROTOCOL_VERSION,
    LEGACY_VERSIONS, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, MODERN_VERSION,
    SUPPORTED_VERSIONS, legacy_version,
};

/// A classified JSON-RPC POST.
///
/// Part of an [`McpRequest`](crate::mcp::McpRequest) ([`Operation::JsonRpc`](crate::mcp::Operation::JsonRpc)),
/// which the first layer that classifies a request leaves in its extensions for the others
/// and [`McpService`](crate::mcp::McpService).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RpcRequest {
    /// Protocol generation.
    pub era: Era,
    /// The protocol version the request declares (header, `_meta`, or the default).
    pub version: &'static str,
    /// Whether the body was a JSON array (a 2025-03-26 batch).
    pub batch: bool,
    /// The messages, in body order.
    pub messages: Vec<RpcMessage>,
}

/// One JSON-RPC message sent by the client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RpcMessage {
    /// A request (has an id) or notification (no id).
    Call(RpcCall),
    /// A response to a request the server sent; acknowledged and otherwise ignored.
    Response,
}

/// A request or notification.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RpcCall {
    /// The request id; `None` for a notification.
    pub id: Option<Value>,
    /// The method name.
    pub method: String,
    /// The params object (empty when absent).
    pub params: Map<String, Value>,
    /// What the call acts on, when the method names a target.
    pub target: Option<RpcTarget>,
}

/// The object a call acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RpcTarget {
    /// `resources/read` of this URI.
    Resource(String),
    /// `tools/call` of this tool.
    Tool(String),
    /// `prompts/get` of this prompt.
    Prompt(String),
}

impl RpcTarget {
    /// The URI or name.
    pub fn name(&self) -> &str {
        match self {
            Self::Resource(name) | Self::Tool(name) | Self::Prompt(name) => name,
        }
    }
}

impl RpcCall {
    /// Whether this is a notification (no id, no response).
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }
}

/// A protocol-level rejection on the MCP endpoint: HTTP `status`, JSON-RPC `code`.
pub(crate) fn rpc_rejection(
    status: StatusCode,
    id: Value,
    code: i64,
    message: impl Into<String>,
    data: Option<Value>,
) -> Rejection {
    let error_code = match status.as_u16() {
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        406 => ErrorCode::NotAcceptable,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        403 => ErrorCode::Forbidden,
        500..=599 => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    Rejection::new(error_code, message.into())
        .with_status(status)
        .with_json_rpc(JsonRpcError { id, code, data })
}

fn bad_request(id: Value, code: i64, message: impl Into<String>) -> Rejection {
    rpc_rejection(StatusCode::BAD_REQUEST, id, code, message, None)
}

/// Header value with optional whitespace trimmed (RFC 9110 §5.5), as bytes.
fn header_bytes<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    headers
        .get(name)
        .map(HeaderValue::as_bytes)
        .map(<[u8]>::trim_ascii)
}

/// Classifies a JSON-RPC POST body, enforcing every header rule of its protocol era.
///
/// Errors are JSON-RPC rejections with the HTTP status the MCP transport requires
/// (400 for malformed input and header mismatches).
pub fn classify_rpc(headers: &HeaderMap, body: &[u8]) -> Result<RpcRequest, Rejection> {
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        bad_request(
            Value::Null,
            jsonrpc::PARSE_ERROR,
            format!("Parse error: {err}"),
        )
    })?;
    let header_version = header_bytes(headers, HEADER_PROTOCOL_VERSION);
    match value {
        Value::Array(items) => classify_batch(header_version, items),
        Value::Object(object) => {
            let first = parse_message(object)?;
            if is_modern(header_version, &first) {
                classify_modern(headers, header_version, first)
            } else {
                let version = legacy_header_version(header_version, id_of(&first))?;
                Ok(RpcRequest {
                    era: Era::Legacy,
                    version,
                    batch: false,
                    messages: vec![first],
                })
            }
        }
        _ => Err(bad_request(
            Value::Null,
            jsonrpc::INVALID_REQUEST,
            "Invalid Request: the body must be a JSON-RPC object",
        )),
    }
}

fn id_of(message: &RpcMessage) -> Value {
    match message {
        RpcMessage::Call(call) => call.id.clone().unwrap_or(Value::Null),
        RpcMessage::Response => Value::Null,
    }
}

/// Whether the request belongs to the stateless era: it says so in its header, or (with a
/// missing or unknown header) its body carries the 2026-07-28 `_meta` or method.
fn is_modern(header_version: Option<&[u8]>, message: &RpcMessage) -> bool {
    match header_version {
        Some(v) if v == MODERN_VERSION.as_bytes() => true,
        Some(v) if LEGACY_VERSIONS.iter().any(|l| l.as_bytes() == v) => false,
        _ => match message {
            RpcMessage::Call(call) => {
                call.method == "server/discover"
                    || call
                        .params
                        .get("_meta")
                        .and_then(Value::as_object)
                        .is_some_and(|meta| meta.contains_key(META_PROTOCOL_VERSION))
            }
            RpcMessage::Response => false,
        },
    }
}

fn legacy_header_version(
    header_version: Option<&[u8]>,
    id: Value,
) -> Result<&'static str, Rejection> {
    let Some(raw) = header_version else {
        return Ok(DEFAULT_LEGACY_VERSION);
    };
    std::str::from_utf8(raw)
        .ok()
        .and_then(legacy_version)
        .ok_or_else(|| {
            rpc_rejection(
                StatusCode::BAD_REQUEST,
                id,
                jsonrpc::INVALID_REQUEST,
                "Bad Request: unsupported MCP-Protocol-Version",
                Some(json!({ "supported": SUPPORTED_VERSIONS })),
            )
        })
}

fn classify_batch(
    header_version: Option<&[u8]>,
    items: Vec<Value>,
) -> Result<RpcRequest, Rejection> {
    let version = legacy_header_version(header_version, Value::Null)?;
    if version != DEFAULT_LEGACY_VERSION {
        return Err(bad_request(
            Value::Null,
            jsonrpc::INVALID_REQUEST,
            format!(
                "Invalid Request: JSON-RPC batches are only allowed in protocol version {DEFAULT_LEGACY_VERSION}"
            ),
        ));
    }
    if items.is_empty() {
        return Err(bad_request(
            Value::Null,
            jsonrpc::INVALID_REQUEST,
            "Invalid Request: empty batch",
        ));
    }
    let messages = items
        .into_iter()
        .map(|item| match item {
            Value::Object(object) => parse_message(object),
            _ => Err(bad_request(
                Value::Null,
                jsonrpc::INVALID_REQUEST,
                "Invalid Request: every batch element must be a JSON-RPC object",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Each answer is matched to its call by id (and filtered by what that call asked for):
    // two calls with one id would make that match ambiguous.
    let mut seen = std::collections::HashSet::new();
    for message in &messages {
        if let RpcMessage::Call(RpcCall { id: Some(id), .. }) = message
            && !seen.insert(id.to_string())
        {
            return Err(bad_request(
                Value::Null,
                jsonrpc::INVALID_REQUEST,
                format!("Invalid Request: the id {id} is used by more than one call in the batch"),
            ));
        }
    }
    Ok(RpcRequest {
        era: Era::Legacy,
        version,
        batch: true,
        messages,
    })
}

/// Checks the JSON-RPC 2.0 shape of one message.
fn parse_message(mut object: Map<String, Value>) -> Result<RpcMessage, Rejection> {
    // Keep the id (when it is a valid one) so that shape errors can still answer it.
    let id = match object.remove("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) if is_valid_id(&id) => Some(id),
        Some(_) => {
            return Err(bad_request(
                Value::Null,
                jsonrpc::INVALID_REQUEST,
                "Invalid Request: id must be a string or an integer",
            ));
        }
    };
    let reply_id = id.clone().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(bad_request(
            reply_id,
            jsonrpc::INVALID_REQUEST,
            "Invalid Request: jsonrpc must be \"2.0\"",
        ));
    }
    let Some(method) = object.remove("method") else {
        if id.is_some() && (object.contains_key("result") || object.contains_key("error")) {
            return Ok(RpcMessage::Response);
        }
        return Err(bad_request(
            reply_id,
            jsonrpc::INVALID_REQUEST,
            "Invalid Request: method is missing",
        ));
    };
    let method = match method {
        Value::String(method) if !method.is_empty() => method,
        _ => {
            return Err(bad_request(
                reply_id,
                jsonrpc::INVALID_REQUEST,
                "Invalid Request: method must be a non-empty string",
            ));
        }
    };
    let params = match object.remove("params") {
        None => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => {
            return Err(bad_request(
                reply_id,
                jsonrpc::INVALID_PARAMS,
                "Invalid params: params must be an object",
            ));
        }
    };
    let target = target_of(&method, &params);
    Ok(RpcMessage::Call(RpcCall {
        id,
        method,
        params,
        target,
    }))
}

fn is_valid_id(id: &Value) -> bool {
    match id {
        Value::String(_) => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

fn target_of(method: &str, params: &Map<String, Value>) -> Option<RpcTarget> {
    let named = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_owned);
    match method {
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            named("uri").map(RpcTarget::Resource)
        }
        "tools/call" => named("name").map(RpcTarget::Tool),
        "prompts/get" => named("name").map(RpcTarget::Prompt),
        _ => None,
    }
}

/// The 2026-07-28 rules: version header, `_meta`, `Mcp-Method` and `Mcp-Name`.
fn classify_modern(
    headers: &HeaderMap,
    header_version: Option<&[u8]>,
    message: RpcMessage,
) -> Result<RpcRequest, Rejection> {
    let call = match message {
        RpcMessage::Call(call) if !call.is_notification() => call,
        // Notifications and responses need no validation: they are acknowledged with 202.
        other => {
            return Ok(RpcRequest {
                era: Era::Modern,
                version: MODERN_VERSION,
                batch: false,
                messages: vec![other],
            });
        }
    };
    let id = call.id.clone().unwrap_or(Value::Null);
    let Some(header_version) = header_version else {
        return Err(bad_request(
            id,
            jsonrpc::HEADER_MISMATCH,
            "Header mismatch: MCP-Protocol-Version header is missing",
        ));
    };
    let meta = call.params.get("_meta").and_then(Value::as_object);
    let missing: Vec<&str> = [META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES]
        .into_iter()
        .filter(|key| meta.is_none_or(|meta| !meta.contains_key(*key)))
        .collect();
    if !missing.is_empty() {
        return Err(rpc_rejection(
            StatusCode::BAD_REQUEST,
            id,
            jsonrpc::INVALID_PARAMS,
            format!("Invalid params: _meta is missing {}", missing.join(", ")),
            Some(json!({ "missing": missing })),
        ));
    }
    let meta_version = meta.and_then(|m| m.get(META_PROTOCOL_VERSION));
    if meta_version.and_then(Value::as_str).map(str::as_bytes) != Some(header_version) {
        return Err(bad_request(
            id,
            jsonrpc::HEADER_MISMATCH,
            "Header mismatch: MCP-Protocol-Version header does not match _meta protocolVersion",
        ));
    }
    if header_version != MODERN_VERSION.as_bytes() {
        let requested = String::from_utf8_lossy(header_version).into_owned();
        return Err(rpc_rejection(
            StatusCode::BAD_REQUEST,
            id,
            jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
            Some(json!({ "supported": [MODERN_VERSION], "requested": requested })),
        ));
    }
    if meta
        .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
        .is_some_and(|caps| !caps.is_object())
    {
        return Err(bad_request(
            id,
            jsonrpc::INVALID_PARAMS,
            "Invalid params: _meta clientCapabilities must be an object",
        ));
    }
    if header_bytes(headers, HEADER_METHOD) != Some(call.method.as_bytes()) {
        return Err(bad_request(
            id,
            jsonrpc::HEADER_MISMATCH,
            "Header mismatch: Mcp-Method header is missing or does not match the body method",
        ));
    }
    let named = matches!(
        call.method.as_str(),
        "resources/read" | "tools/call" | "prompts/get"
    );
    if named {
        let Some(target) = &call.target else {
            let key = if call.method == "resources/read" {
                "uri"
            } else {
                "name"
            };
            return Err(bad_request(
                id,
                jsonrpc::INVALID_PARAMS,
                format!("Invalid params: {key} must be a string"),
            ));
        };
        if header_bytes(headers, HEADER_NAME) != Some(target.name().as_bytes()) {
            return Err(bad_request(
                id,
                jsonrpc::HEADER_MISMATCH,
                "Header mismatch: Mcp-Name header is missing or does not match the body",
            ));
        }
    }
    Ok(RpcRequest {
        era: Era::Modern,
        version: MODERN_VERSION,
        batch: false,
        messages: vec![RpcMessage::Call(call)],
    })
}

#[cfg(test)]
mod tests;
