//! Writing answers from entries: REST bodies as stored, JSON-RPC results spliced under the
//! caller's id, with `Cache-Control`, `Cache-Status` (RFC 9211) and 304s.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde_json::Value;
use tokio::time::Instant;

use super::entry::{Entry, Shape};
use super::key::Lookup;
use crate::error::{BodyOrEnvelope, ErrorCode, FullBody, JsonRpcError, Rejection, Rendered};
use crate::mcp::not_modified;

/// `Cache-Status` values (RFC 9211), one per way an answer is made.
pub(crate) mod status {
    /// Served from a fresh entry.
    pub(crate) const HIT: &str = "mcp-bastion; hit";
    /// Fetched and stored.
    pub(crate) const STORED: &str = "mcp-bastion; fwd=miss; stored";
    /// Fetched, not stored.
    pub(crate) const MISS: &str = "mcp-bastion; fwd=miss";
    /// Served from a stale entry (revalidating, or the source failed).
    pub(crate) const STALE: &str = "mcp-bastion; hit; fwd=stale";
}

/// Marks an answer with how the cache made it.
pub(crate) fn mark<B>(response: &mut Response<B>, cache_status: &'static str) {
    response
        .headers_mut()
        .insert("cache-status", HeaderValue::from_static(cache_status));
}

/// The answer to `lookup` from `entry`.
pub(crate) fn from_entry<B>(
    entry: &Entry,
    lookup: &Lookup,
    request_headers: &HeaderMap,
    authenticated: bool,
    cache_status: &'static str,
) -> Response<BodyOrEnvelope<B>> {
    let now = Instant::now();
    let mut response = match (&lookup.rpc_id, entry.shape) {
        (Some(id), Shape::RpcResult | Shape::ModernRpcResult | Shape::RpcNotFound) => {
            rpc_answer(entry, id, now)
        }
        _ => rest_answer(entry, lookup.head, request_headers, authenticated, now),
    };
    if let Some(labels) = &entry.labels {
        // The policy in front checks these again on every answer, cached or not.
        response.extensions_mut().insert(labels.clone());
    }
    // A stored refusal is ours: say so, so the error envelope quotes this request's id and
    // the access log its code, as for a fresh one.
    if let Some(rejection) = stored_rejection(entry, lookup.rpc_id.as_ref()) {
        response.extensions_mut().insert(rejection);
        response.extensions_mut().insert(Rendered);
    }
    mark(&mut response, cache_status);
    response.map(BodyOrEnvelope::envelope)
}

fn rest_answer(
    entry: &Entry,
    head: bool,
    request_headers: &HeaderMap,
    authenticated: bool,
    now: Instant,
) -> Response<FullBody> {
    let fresh = entry.status == StatusCode::OK
        && not_modified(
            request_headers,
            entry.etag.as_ref(),
            entry.last_modified.as_ref(),
        );
    let mut response = if fresh {
        let mut response = Response::new(FullBody::default());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(if head {
            FullBody::default()
        } else {
            FullBody::new(entry.body.clone())
        });
        *response.status_mut() = entry.status;
        if let Some(content_type) = &entry.content_type {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type.clone());
        }
        if head {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(entry.body.len()));
        }
        response
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::ETAG, &entry.etag),
        (header::LAST_MODIFIED, &entry.last_modified),
    ] {
        if let Some(value) = value {
            headers.insert(name, value.clone());
        }
    }
    let max_age = entry.remaining(now).as_secs();
    // `public` only for anonymous requests of shared entries: what a caller may see depends
    // on who they are.
    let visibility = if entry.public && !authenticated {
        "public"
    } else {
        "private"
    };
    if let Some(value) =
        crate::header_value::formatted(format_args!("{visibility}, max-age={max_age}"))
    {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}

fn rpc_answer(entry: &Entry, id: &Value, now: Instant) -> Response<FullBody> {
    let id = serde_json::to_vec(id).unwrap_or_else(|_| b"null".to_vec());
    let mut body = BytesMut::with_capacity(entry.body.len() + id.len() + 64);
    body.put_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    body.put_slice(&id);
    body.put_slice(if entry.shape == Shape::RpcNotFound {
        b",\"error\":".as_slice()
    } else {
        b",\"result\":".as_slice()
    });
    match entry.shape {
        // Stored without its `ttlMs` (an object, `{...}`): say what is left of the TTL, then
        // the stored members.
        Shape::ModernRpcResult => {
            let remaining = u64::try_from(entry.remaining(now).as_millis()).unwrap_or(u64::MAX);
            body.put_slice(b"{\"ttlMs\":");
            let _ = write!(body, "{remaining}");
            match entry.body.get(1..) {
                Some(members) if members != b"}" => {
                    body.put_slice(b",");
                    body.put_slice(members);
                }
                _ => body.put_slice(b"}"),
            }
        }
        _ => body.put_slice(&entry.body),
    }
    body.put_slice(b"}");
    let mut response = Response::new(FullBody::new(body.freeze()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        entry
            .content_type
            .clone()
            .unwrap_or(HeaderValue::from_static("application/json")),
    );
    response
}

/// The rejection a stored error answer rendered (a REST `{"code","message",...}` or a
/// JSON-RPC error object), rebuilt from its body.
fn stored_rejection(entry: &Entry, rpc_id: Option<&Value>) -> Option<Rejection> {
    let rpc = entry.shape == Shape::RpcNotFound;
    if !rpc && entry.status.is_success() {
        return None;
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&entry.body) else {
        return None;
    };
    let message = body.get("message").and_then(Value::as_str)?.to_owned();
    if rpc {
        let code = body.get("code").and_then(Value::as_i64)?;
        let rejection = Rejection::new(ErrorCode::NotFound, message)
            .with_status(entry.status)
            .with_json_rpc(JsonRpcError {
                id: rpc_id.cloned().unwrap_or(Value::Null),
                code,
                data: body.get("data").cloned(),
            });
        return Some(rejection);
    }
    let mut rejection =
        Rejection::new(ErrorCode::from_status(entry.status), message).with_status(entry.status);
    if let Some(details) = body.get("details") {
        rejection = rejection.with_details(details.clone());
    }
    Some(rejection)
}
