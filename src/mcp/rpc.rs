//! MCP Streamable HTTP: JSON-RPC over POST at the MCP path, both protocol eras.

use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::classify::accepts_event_stream;
use super::classify::{RpcCall, RpcMessage, RpcRequest, rpc_rejection};
use super::protocol::{
    Era, HEADER_SESSION_ID, META_SERVER_INFO, SUPPORTED_VERSIONS, negotiate_legacy,
};
use super::response_body::ResponseBody;
use super::service::{Shared, source_request};
use super::session::SessionError;
use crate::context::{ContextLabels, ContextSource, LabelCheck, SourceRequest, TraceContext};
use crate::error::{Dialect, FullBody, JsonRpcError, Rejection, json_response, jsonrpc};

mod lists;
mod progress;
mod read;

use lists::{list_resources, list_templates};
use read::read_resource;

/// A request to the MCP path other than POST: DELETE ends a session (when sessions are on);
/// there is no server-initiated stream, so GET and the rest are 405.
pub(super) fn transport<S>(
    shared: &Shared<S>,
    parts: &Parts,
) -> Result<Response<FullBody>, Rejection> {
    if parts.method == Method::DELETE
        && let Some(sessions) = &shared.sessions
    {
        let id = parts
            .headers
            .get(HEADER_SESSION_ID)
            .map(HeaderValue::as_bytes);
        sessions
            .end(id, &session_owner(&parts.extensions))
            .map_err(session_rejection)?;
        let mut response = Response::new(FullBody::default());
        *response.status_mut() = StatusCode::NO_CONTENT;
        return Ok(response);
    }
    let allow = if shared.sessions.is_some() {
        "POST, DELETE"
    } else {
        "POST"
    };
    Err(
        Rejection::method_not_allowed(allow).with_json_rpc(JsonRpcError {
            id: Value::Null,
            code: jsonrpc::INVALID_REQUEST,
            data: None,
        }),
    )
}

/// A classified JSON-RPC POST: answer every call in it.
pub(super) async fn exchange<S: ContextSource>(
    shared: &Shared<S>,
    parts: &Parts,
    rpc: RpcRequest,
) -> Result<Response<ResponseBody>, Rejection> {
    // Stateful-era sessions: `initialize` opens one (once it succeeds), the rest need one.
    let mut opens_session = None;
    if let Some(sessions) = &shared.sessions
        && rpc.era == Era::Legacy
    {
        if is_initialize(&rpc) {
            opens_session = Some(sessions);
        } else {
            let id = parts
                .headers
                .get(HEADER_SESSION_ID)
                .map(HeaderValue::as_bytes);
            sessions
                .touch(id, &session_owner(&parts.extensions))
                .map_err(session_rejection)?;
        }
    }
    let source_request = source_request(&parts.headers, &parts.extensions);

    let mut replies = Vec::with_capacity(rpc.messages.len());
    let mut facts = Facts {
        may_stream: !rpc.batch
            && rpc.era == Era::Legacy
            && shared.endpoint.generation.is_some()
            && accepts_event_stream(&parts.headers),
        ..Facts::default()
    };
    for message in &rpc.messages {
        let RpcMessage::Call(call) = message else {
            continue;
        };
        let Some(id) = &call.id else { continue };
        let outcome = dispatch(shared, &rpc, call, &source_request, &mut facts).await;
        replies.push(
            outcome
                .map_err(|rejection| rejection.with_json_rpc_id(id.clone()))
                .map(|result| (id.clone(), result)),
        );
    }

    if replies.is_empty() {
        // Only notifications and responses: acknowledged without a body.
        let mut response = Response::new(ResponseBody::default());
        *response.status_mut() = StatusCode::ACCEPTED;
        return Ok(response);
    }
    if let (Some(following), [Ok((id, _pending))]) = (facts.follow.take(), replies.as_slice()) {
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|id| id.to_str().ok());
        return Ok(progress::respond(
            following,
            id.clone(),
            parts.extensions.get::<LabelCheck>().cloned(),
            request_id,
        ));
    }
    let labelled = |mut response: Response<FullBody>| {
        facts.labels.clone().attach(&mut response);
        // The source's hint for a cache in front, when one context was read.
        if let (false, Some(hint)) = (rpc.batch, facts.hint) {
            response.extensions_mut().insert(hint);
        }
        response
    };
    if rpc.batch {
        let budget = shared.endpoint.max_batch_response();
        // Each error of the batch quotes the request id, as a single error's envelope does.
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|id| id.to_str().ok());
        let mut spent = 0;
        let bodies: Vec<Value> = replies
            .into_iter()
            .map(|reply| {
                let body = match reply {
                    Ok((id, result)) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
                    Err(rejection) => rejection.json_rpc_body(request_id),
                };
                // A batch pays for what it makes the server send: past the budget, calls are
                // answered with an error instead of their result.
                spent += serde_json::to_vec(&body).map_or(0, |bytes| bytes.len());
                if spent <= budget {
                    return body;
                }
                let id = body.get("id").cloned().unwrap_or(Value::Null);
                rpc_rejection(
                    StatusCode::OK,
                    id,
                    jsonrpc::INVALID_REQUEST,
                    format!("Response too large: the answers to this batch exceed {budget} bytes; send fewer calls per batch"),
                    Some(json!({ "code": "PAYLOAD_TOO_LARGE" })),
                )
                .json_rpc_body(request_id)
            })
            .collect();
        return Ok(
            labelled(json_response(StatusCode::OK, &Value::Array(bodies))).map(ResponseBody::from),
        );
    }
    match replies.pop() {
        Some(Ok((id, result))) => {
            let mut response = json_response(
                StatusCode::OK,
                &json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            );
            if let Some(sessions) = opens_session {
                let id = sessions
                    .start(&session_owner(&parts.extensions))
                    .ok_or_else(|| {
                        tracing::error!("system random source failed; cannot issue a session id");
                        Rejection::internal()
                    })?;
                let id = HeaderValue::from_str(&id).map_err(|_| Rejection::internal())?;
                response.headers_mut().insert(HEADER_SESSION_ID, id);
            }
            Ok(labelled(response).map(ResponseBody::from))
        }
        // The labels of a context read before the call failed go with the refusal, for the
        // policy in front to check as it checks an answer.
        Some(Err(rejection)) => {
            Ok(labelled(rejection.into_response(Dialect::JsonRpc)).map(ResponseBody::from))
        }
        None => Err(Rejection::internal()),
    }
}

/// What the source said while a request was answered, for the layers in front.
#[derive(Default)]
struct Facts {
    /// Sensitivity labels of every context read or listed.
    labels: ContextLabels,
    /// The caching hint of the context read.
    hint: Option<crate::context::CacheHint>,
    /// A pending read may be answered with progress notifications: a lone 2025-era call
    /// from a client accepting server-sent events, with asynchronous generation on.
    may_stream: bool,
    /// The pending read to follow with progress notifications.
    follow: Option<progress::Following>,
}

/// Who owns the sessions a request opens or uses: its principal's subject.
fn session_owner(extensions: &http::Extensions) -> String {
    extensions
        .get::<crate::principal::Principal>()
        .map_or_else(String::new, |p| p.identity().to_owned())
}

/// Whether the request is a lone `initialize` (never part of a batch).
fn is_initialize(rpc: &RpcRequest) -> bool {
    matches!(rpc.messages.as_slice(), [RpcMessage::Call(call)] if call.method == "initialize" && call.id.is_some())
}

fn session_rejection(err: SessionError) -> Rejection {
    let (status, message) = match err {
        SessionError::Missing => (
            StatusCode::BAD_REQUEST,
            "Bad Request: Mcp-Session-Id header is required",
        ),
        SessionError::Unknown => (StatusCode::NOT_FOUND, "Session not found"),
    };
    rpc_rejection(status, Value::Null, jsonrpc::INVALID_REQUEST, message, None)
}

/// A method-level JSON-RPC error: answered with HTTP 200 inside a valid exchange.
fn method_error(code: i64, message: impl Into<String>, data: Option<Value>) -> Rejection {
    rpc_rejection(StatusCode::OK, Value::Null, code, message, data)
}

fn invalid_params(message: impl Into<String>) -> Rejection {
    method_error(jsonrpc::INVALID_PARAMS, message, None)
}

async fn dispatch<S: ContextSource>(
    shared: &Shared<S>,
    rpc: &RpcRequest,
    call: &RpcCall,
    request: &SourceRequest,
    facts: &mut Facts,
) -> Result<Value, Rejection> {
    let result = match (rpc.era, call.method.as_str()) {
        (Era::Legacy, "initialize") => initialize(shared, call),
        (Era::Legacy, "ping") => Ok(json!({}).into()),
        (Era::Modern, "server/discover") => Ok(discover(shared)),
        (_, "resources/list") => list_resources(shared, call, request, facts).await,
        (_, "resources/read") => read_resource(shared, rpc.era, call, request, facts).await,
        (_, "resources/templates/list") => Ok(list_templates(shared)),
        (_, "tools/list") if shared.endpoint.empty_tools_and_prompts => {
            Ok(MethodResult::public(json!({ "tools": [] })))
        }
        (_, "prompts/list") if shared.endpoint.empty_tools_and_prompts => {
            Ok(MethodResult::public(json!({ "prompts": [] })))
        }
        (_, "tools/call" | "prompts/get") if shared.endpoint.empty_tools_and_prompts => {
            let name = call.target.as_ref().map_or("", |t| t.name());
            Err(invalid_params(format!(
                "Invalid params: unknown {} {name:?}",
                if call.method == "tools/call" {
                    "tool"
                } else {
                    "prompt"
                }
            )))
        }
        (era, method) => {
            let status = if era == Era::Modern {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
            Err(rpc_rejection(
                status,
                Value::Null,
                jsonrpc::METHOD_NOT_FOUND,
                format!("Method not found: {method}"),
                None,
            ))
        }
    }?;
    Ok(match rpc.era {
        Era::Legacy => result.value,
        Era::Modern => modern_result(shared, result),
    })
}

/// A method's result plus the caching hints the 2026-07-28 results carry.
struct MethodResult {
    value: Value,
    ttl_ms: u64,
    scope: &'static str,
    /// `resultType` in 2026-07-28: `complete`, or `pending` while a context is generated.
    result_type: &'static str,
}

impl From<Value> for MethodResult {
    fn from(value: Value) -> Self {
        Self {
            value,
            ttl_ms: 0,
            scope: "private",
            result_type: "complete",
        }
    }
}

impl MethodResult {
    fn public(value: Value) -> Self {
        Self {
            value,
            ttl_ms: 0,
            scope: "public",
            result_type: "complete",
        }
    }
}

fn server_info<S>(shared: &Shared<S>) -> Value {
    json!({ "name": shared.endpoint.server_name, "version": shared.endpoint.server_version })
}

fn modern_result<S>(shared: &Shared<S>, result: MethodResult) -> Value {
    let mut value = match result.value {
        Value::Object(map) => map,
        other => return other,
    };
    value.insert("resultType".into(), Value::from(result.result_type));
    value.insert("ttlMs".into(), Value::from(result.ttl_ms));
    value.insert("cacheScope".into(), Value::from(result.scope));
    let meta = value
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert(META_SERVER_INFO.into(), server_info(shared));
    }
    Value::Object(value)
}

fn capabilities<S>(shared: &Shared<S>) -> Value {
    if shared.endpoint.empty_tools_and_prompts {
        json!({ "resources": {}, "tools": {}, "prompts": {} })
    } else {
        json!({ "resources": {} })
    }
}

fn initialize<S>(shared: &Shared<S>, call: &RpcCall) -> Result<MethodResult, Rejection> {
    let requested = call
        .params
        .get("protocolVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_params("Invalid params: protocolVersion must be a string"))?;
    let mut result = json!({
        "protocolVersion": negotiate_legacy(requested),
        "capabilities": capabilities(shared),
        "serverInfo": server_info(shared),
    });
    if let Some(instructions) = &shared.endpoint.instructions {
        result["instructions"] = Value::from(instructions.as_str());
    }
    Ok(result.into())
}

fn discover<S>(shared: &Shared<S>) -> MethodResult {
    let mut result = json!({
        "supportedVersions": SUPPORTED_VERSIONS,
        "capabilities": capabilities(shared),
    });
    if let Some(instructions) = &shared.endpoint.instructions {
        result["instructions"] = Value::from(instructions.as_str());
    }
    MethodResult::public(result)
}

/// A source failure inside a JSON-RPC exchange: the same message, as a JSON-RPC error.
fn as_method_error(rejection: &Rejection) -> Rejection {
    method_error(
        rejection.code().json_rpc_code(),
        rejection.message().to_owned(),
        Some(json!({ "code": rejection.code().as_str() })),
    )
}

/// The trace context a 2026-07-28 request carries in `params._meta`, when valid.
pub(super) fn meta_trace(call: &RpcCall) -> Option<TraceContext> {
    let meta = call.params.get("_meta")?;
    let field = |name: &str| meta.get(name).and_then(Value::as_str);
    TraceContext::parse(field("traceparent")?, field("tracestate"))
}
