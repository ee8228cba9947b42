//! The one classification of a request: its [`Dialect`], the [`Operation`] it asks for and
//! that operation's target, told from the [`Endpoint`] description. Every layer and
//! [`McpService`](super::McpService) use it.
//!
//! The first layer that needs the classification runs [`classify`]: it checks the `Host` and
//! `Origin` allow-lists, reads the body when the operation is in it (JSON-RPC and REST batch
//! reads, within the endpoint's body limit), parses it once, and stores the [`McpRequest`] in
//! the request extensions next to the buffered body. Later layers and the endpoint find it
//! there and parse nothing again; a layer used alone classifies for itself with the same
//! function and limits.
//!
//! ```
//! use http::Request;
//! use http_body_util::Full;
//! use mcp_bastion::mcp::{Endpoint, McpRequest, Operation, classify};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let endpoint = Endpoint::default();
//! let request = Request::get("/context/project-alpha/dependency-graph")
//!     .body(Full::<bytes::Bytes>::default())
//!     .unwrap();
//! let request = classify(&endpoint, request).await.expect("a valid request");
//! let classified = request.extensions().get::<McpRequest>().unwrap();
//! assert!(matches!(&classified.operation, Operation::ReadContext(id) if id.as_str() == "project-alpha/dependency-graph"));
//! # }
//! ```

// A refusal is the response itself, as large as the request it answers; boxing it would
// only move that size to the heap on every refusal.
#![allow(clippy::result_large_err)]

mod accept;
mod rpc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use super::body::RequestBody;
use super::endpoint::Endpoint;
use super::wire::BatchRequest;
use crate::context::ContextId;
use crate::error::{
    BoxError, Dialect, ErrorCode, FullBody, Rejection, is_json_content_type, jsonrpc,
};
use crate::facts::RequestFacts;

pub(crate) use accept::accepts_event_stream;
pub use accept::check_post_headers;
pub(crate) use rpc::rpc_rejection;
pub use rpc::{RpcCall, RpcMessage, RpcRequest, RpcTarget, classify_rpc};

/// A classified request: how it speaks and what it asks for.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct McpRequest {
    /// The wire dialect (decides the error format).
    pub dialect: Dialect,
    /// What the request asks for.
    pub operation: Operation,
}

/// What a request asks the endpoint to do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Operation {
    /// `GET`/`HEAD {rest}/{id}`: read one context.
    ReadContext(ContextId),
    /// `GET`/`HEAD {rest}`: a page of the contexts.
    ListContexts,
    /// `POST {rest}` with `{"ids": [...]}`: read several contexts; the ids as sent (each is
    /// validated on its own, an invalid one gets its own 400 entry).
    BatchRead(Vec<String>),
    /// `POST {mcp}`: JSON-RPC messages, classified.
    JsonRpc(RpcRequest),
    /// Another method on the MCP path: `GET` (a server-sent event stream) or `DELETE` (end a
    /// session), for the servers that offer them.
    McpTransport,
    /// The RFC 9728 metadata routes (answered without authentication).
    ResourceMetadata,
    /// A gRPC call; the method is the path.
    Grpc,
    /// Any other request: a path the endpoint does not serve.
    Other,
}

impl McpRequest {
    /// What it asks for, for logs and metrics: the JSON-RPC method of a single call
    /// (`resources/read`; `batch` for several messages), or the REST operation
    /// (`context.read`, `context.list`, `context.batch`), and what it acts on.
    pub fn describe(&self) -> (&str, Option<&str>) {
        match &self.operation {
            Operation::ReadContext(id) => ("context.read", Some(id.as_str())),
            Operation::ListContexts => ("context.list", None),
            Operation::BatchRead(_) => ("context.batch", None),
            Operation::JsonRpc(rpc) => match rpc.messages.as_slice() {
                [RpcMessage::Call(call)] => (
                    call.method.as_str(),
                    call.target.as_ref().map(RpcTarget::name),
                ),
                [RpcMessage::Response] => ("response", None),
                _ => ("batch", None),
            },
            Operation::McpTransport => ("mcp.transport", None),
            Operation::ResourceMetadata => ("resource-metadata", None),
            Operation::Grpc => ("grpc", None),
            Operation::Other => ("other", None),
        }
    }

    /// Leaves this classification in `extensions` for the layers below (and what it asks
    /// for in the request's facts, for the access log).
    pub(crate) fn keep(self, extensions: &mut http::Extensions) {
        RequestFacts::record(extensions, |facts| {
            let (operation, target) = self.describe();
            facts.set_operation_named(operation);
            if let Some(target) = target {
                facts.set_target(target);
            }
        });
        extensions.insert(self);
    }

    /// The classified JSON-RPC messages, when this is a JSON-RPC POST.
    pub fn rpc(&self) -> Option<&RpcRequest> {
        match &self.operation {
            Operation::JsonRpc(rpc) => Some(rpc),
            _ => None,
        }
    }
}

/// What [`classify_head`] found out without the body.
#[derive(Debug)]
pub(crate) enum Head {
    /// Fully classified.
    Done(McpRequest),
    /// A JSON-RPC POST: the body says what it is.
    JsonRpc,
    /// A REST batch read: the body names the ids.
    Batch,
}

/// Classifies a request from its method, URI and headers; `Err` is the refusal, already in
/// the request's dialect.
pub(crate) fn classify_head(
    endpoint: &Endpoint,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Head, Response<FullBody>> {
    let detector = endpoint.dialect_detector();
    let dialect = detector.detect(uri, headers);
    let done = |operation| Ok(Head::Done(McpRequest { dialect, operation }));
    let path = uri.path();
    if endpoint
        .resource_metadata()
        .is_some_and(|metadata| metadata.is_metadata_path(path))
    {
        return done(Operation::ResourceMetadata);
    }
    if dialect == Dialect::Grpc {
        return done(Operation::Grpc);
    }
    // Every path behind the endpoint's layers, not only the endpoint's own: a handler of
    // yours behind the stack (`Stack::mount`) is as open to DNS rebinding as `/mcp`.
    check_host_and_origin(endpoint, uri, headers)
        .map_err(|rejection| rejection.into_response(dialect))?;
    if detector.is_json_rpc_path(path) {
        return if method == Method::POST {
            check_post_headers(headers).map_err(|r| r.into_response(dialect))?;
            Ok(Head::JsonRpc)
        } else {
            done(Operation::McpTransport)
        };
    }
    let Some(suffix) = detector.rest_suffix(path) else {
        return done(Operation::Other);
    };
    let refuse = |rejection: Rejection| Err(rejection.into_response(dialect));
    let read = method == Method::GET || method == Method::HEAD;
    match suffix.strip_prefix('/') {
        None if read => done(Operation::ListContexts),
        None if method == Method::POST => {
            if is_json_content_type(headers, false) {
                Ok(Head::Batch)
            } else {
                refuse(Rejection::new(
                    ErrorCode::UnsupportedMediaType,
                    "the body must be application/json",
                ))
            }
        }
        None => refuse(Rejection::method_not_allowed("GET, HEAD, POST")),
        Some(_) if !read => refuse(Rejection::method_not_allowed("GET, HEAD")),
        Some(raw) => match ContextId::from_percent_encoded(raw) {
            Ok(id) => done(Operation::ReadContext(id)),
            Err(err) => refuse(
                Rejection::bad_request(format!("invalid context id: {err}")).with_details(
                    serde_json::json!({ "contextId": raw, "reason": err.to_string() }),
                ),
            ),
        },
    }
}

/// The DNS-rebinding defence: a browser always names the host it thinks it talks to, and
/// says where the page came from.
fn check_host_and_origin(
    endpoint: &Endpoint,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Rejection> {
    // RFC 9112 §3.2: more than one Host is a bad request (which one would a proxy use?).
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next().map(HeaderValue::as_bytes);
    if hosts.next().is_some() {
        return Err(Rejection::bad_request(
            "Bad Request: more than one Host header",
        ));
    }
    // An absolute-form target names the host too; every name given must be allowed.
    let named = host
        .into_iter()
        .chain(uri.authority().map(|a| a.as_str().as_bytes()));
    for host in named {
        if !std::str::from_utf8(host).is_ok_and(|host| endpoint.hosts().allows(host)) {
            return Err(Rejection::new(
                ErrorCode::Forbidden,
                "Forbidden: host not allowed",
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !origin
            .to_str()
            .is_ok_and(|origin| endpoint.origins().allows(origin))
    {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            "Forbidden: origin not allowed",
        ));
    }
    Ok(())
}

/// Classifies `request` and leaves the [`McpRequest`] in its extensions; reads and parses
/// the body (once, within the endpoint's body limit) when the operation is in it. A request
/// that already carries a classification is passed on untouched.
///
/// `Err` is the refusal (400, 403, 405, 406, 413 or 415), already in the request's dialect.
pub async fn classify<B>(
    endpoint: &Endpoint,
    request: Request<B>,
) -> Result<Request<RequestBody<B>>, Response<FullBody>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    if request.extensions().get::<McpRequest>().is_some() {
        return Ok(request.map(RequestBody::streaming));
    }
    let head = classify_head(endpoint, request.method(), request.uri(), request.headers())?;
    match head {
        Head::Done(classified) => {
            let mut request = request.map(RequestBody::streaming);
            classified.keep(request.extensions_mut());
            Ok(request)
        }
        Head::JsonRpc | Head::Batch => {
            let (parts, body) = request.into_parts();
            classify_body(endpoint, parts, body, matches!(head, Head::JsonRpc)).await
        }
    }
}

/// Reads and classifies the body of a JSON-RPC POST (`json_rpc`) or a REST batch read.
pub(crate) async fn classify_body<B>(
    endpoint: &Endpoint,
    mut parts: Parts,
    body: B,
    json_rpc: bool,
) -> Result<Request<RequestBody<B>>, Response<FullBody>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let dialect = if json_rpc {
        Dialect::JsonRpc
    } else {
        Dialect::Rest
    };
    let limit = endpoint.body_limit();
    let bytes = read_body(&parts.headers, body, limit)
        .await
        .map_err(|err| body_rejection(err, limit, json_rpc).into_response(dialect))?;
    let operation = if json_rpc {
        let rpc = classify_rpc(&parts.headers, &bytes).map_err(|r| r.into_response(dialect))?;
        let max = endpoint.max_rpc_batch();
        if rpc.messages.len() > max {
            return Err(rpc_rejection(
                StatusCode::BAD_REQUEST,
                Value::Null,
                jsonrpc::INVALID_REQUEST,
                format!("Invalid Request: a batch holds at most {max} messages"),
                None,
            )
            .into_response(dialect));
        }
        Operation::JsonRpc(rpc)
    } else {
        Operation::BatchRead(
            parse_batch(&bytes, endpoint.max_batch()).map_err(|r| r.into_response(dialect))?,
        )
    };
    McpRequest { dialect, operation }.keep(&mut parts.extensions);
    Ok(Request::from_parts(parts, RequestBody::buffered(bytes)))
}

/// Why a body could not be read.
pub(crate) enum BodyError {
    TooLarge,
    /// The body did not arrive within the server's body read timeout.
    TimedOut,
    Unreadable,
}

fn body_rejection(err: BodyError, limit: usize, json_rpc: bool) -> Rejection {
    if let BodyError::TimedOut = err {
        let rejection = Rejection::new(
            ErrorCode::Timeout,
            "Request Timeout: the body did not arrive in time",
        )
        .with_status(StatusCode::REQUEST_TIMEOUT);
        return if json_rpc {
            rejection.with_json_rpc(crate::error::JsonRpcError {
                id: Value::Null,
                code: jsonrpc::INVALID_REQUEST,
                data: None,
            })
        } else {
            rejection
        };
    }
    match (err, json_rpc) {
        (BodyError::TooLarge, true) => rpc_rejection(
            StatusCode::PAYLOAD_TOO_LARGE,
            Value::Null,
            jsonrpc::INVALID_REQUEST,
            format!("Payload Too Large: the body exceeds {limit} bytes"),
            None,
        ),
        (BodyError::Unreadable | BodyError::TimedOut, true) => rpc_rejection(
            StatusCode::BAD_REQUEST,
            Value::Null,
            jsonrpc::PARSE_ERROR,
            "Parse error: the body could not be read",
            None,
        ),
        (BodyError::TooLarge, false) => Rejection::new(
            ErrorCode::PayloadTooLarge,
            format!("the body exceeds {limit} bytes"),
        ),
        (BodyError::Unreadable | BodyError::TimedOut, false) => {
            Rejection::bad_request("the body could not be read")
        }
    }
}

/// Reads the whole body, refusing more than `limit` bytes (early when `Content-Length` says
/// so).
pub(crate) async fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, BodyError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(err)
            if err
                .downcast_ref::<crate::error::BodyReadTimeout>()
                .is_some() =>
        {
            Err(BodyError::TimedOut)
        }
        Err(_) => Err(BodyError::Unreadable),
    }
}

/// The ids of a REST batch read: `{"ids": ["<context id>", ...]}`, 1 to `max` of them.
fn parse_batch(bytes: &[u8], max: usize) -> Result<Vec<String>, Rejection> {
    let request: BatchRequest = serde_json::from_slice(bytes).map_err(|err| {
        if err.is_data() {
            Rejection::bad_request(r#"the body must be {"ids": ["<context id>", ...]}"#)
        } else {
            Rejection::bad_request(format!("the body is not valid JSON: {err}"))
        }
    })?;
    if request.ids.is_empty() || request.ids.len() > max {
        return Err(Rejection::bad_request(format!(
            "a batch names 1 to {max} ids"
        )));
    }
    Ok(request.ids)
}

#[cfg(test)]
mod tests;
