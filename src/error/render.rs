//! Rendering a [`Rejection`] as a response in each dialect.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::{Dialect, FullBody, Rejection};

/// Characters gRPC requires to be percent-encoded in `grpc-message`.
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Rejection {
    /// Renders the rejection for `dialect` and stores a copy of it in the response extensions.
    pub fn into_response(self, dialect: Dialect) -> Response<FullBody> {
        let mut response = self.to_response(dialect, None);
        response.extensions_mut().insert(self);
        response.extensions_mut().insert(Rendered);
        response
    }

    /// Renders the rejection for `dialect`, quoting `request_id` in the envelope when given.
    ///
    /// Unlike [`into_response`](Self::into_response) the response extensions stay empty.
    pub fn to_response(&self, dialect: Dialect, request_id: Option<&str>) -> Response<FullBody> {
        let mut response = match dialect {
            Dialect::Rest | Dialect::Other => {
                let body = self.rest_body(request_id);
                json_response(self.inner.status, &body)
            }
            Dialect::JsonRpc => {
                let body = self.json_rpc_body(request_id);
                json_response(self.inner.status, &body)
            }
            Dialect::Grpc => self.grpc_response(),
        };
        let headers = response.headers_mut();
        if let Some(challenge) = &self.inner.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, challenge.clone());
        }
        if let Some(allow) = &self.inner.allow {
            headers.insert(header::ALLOW, allow.clone());
        }
        if let Some(after) = self.inner.retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_seconds(after)),
            );
        }
        response
    }

    /// The REST envelope: `{"code","message","details"?,"requestId"?}`.
    pub fn rest_body(&self, request_id: Option<&str>) -> Value {
        let mut body = Map::new();
        body.insert("code".into(), Value::from(self.inner.code.as_str()));
        body.insert("message".into(), Value::from(self.inner.message.as_ref()));
        if let Some(details) = &self.inner.details {
            body.insert("details".into(), details.clone());
        }
        if let Some(id) = request_id {
            body.insert("requestId".into(), Value::from(id));
        }
        Value::Object(body)
    }

    /// The JSON-RPC response object carrying this rejection as its `error`.
    pub fn json_rpc_body(&self, request_id: Option<&str>) -> Value {
        let (id, code, data) = match &self.inner.json_rpc {
            Some(rpc) => (rpc.id.clone(), rpc.code, rpc.data.clone()),
            None => (Value::Null, self.inner.code.json_rpc_code(), None),
        };
        let data = match data {
            Some(Value::Object(mut data)) => {
                if let Some(request_id) = request_id {
                    data.entry("requestId")
                        .or_insert_with(|| Value::from(request_id));
                }
                Value::Object(data)
            }
            Some(other) => other,
            None => {
                let mut data = Map::new();
                data.insert("code".into(), Value::from(self.inner.code.as_str()));
                if let Some(details) = &self.inner.details {
                    data.insert("details".into(), details.clone());
                }
                if let Some(request_id) = request_id {
                    data.insert("requestId".into(), Value::from(request_id));
                }
                Value::Object(data)
            }
        };
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": { "code": code, "message": self.inner.message.as_ref(), "data": data },
        })
    }

    fn grpc_response(&self) -> Response<FullBody> {
        // A trailers-only gRPC response: HTTP 200 with the status in the headers.
        let message = utf8_percent_encode(&self.inner.message, GRPC_MESSAGE).to_string();
        let mut response = Response::new(FullBody::default());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert(
            "grpc-status",
            HeaderValue::from(u16::from(self.inner.code.grpc_status())),
        );
        if let Ok(value) = HeaderValue::from_str(&message) {
            headers.insert("grpc-message", value);
        }
        response
    }
}

/// A JSON response with this status and body.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<FullBody> {
    json_bytes_response(status, json_bytes(body))
}

/// Serializes a response body, in the `serialize` span. Our types always serialize, so a
/// failure is a bug answered with an empty body rather than a panic.
pub(crate) fn json_bytes<T: serde::Serialize>(value: &T) -> Bytes {
    let _serialize = tracing::debug_span!("serialize").entered();
    serde_json::to_vec(value).map_or_else(
        |err| {
            tracing::error!(error = %err, "a response could not be serialized");
            Bytes::new()
        },
        Bytes::from,
    )
}

/// A JSON response with this status and an already serialized body.
pub(crate) fn json_bytes_response(status: StatusCode, body: Bytes) -> Response<FullBody> {
    let mut response = Response::new(FullBody::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, APPLICATION_JSON);
    response
}

/// On a response: its body is our rendering of the [`Rejection`] beside it (so the error
/// envelope may render it again, with the request id, even when it travels with a 2xx, as a
/// JSON-RPC error does). A rejection an inner service attached to a body of its own is not.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rendered;

/// Whether an answer's `WWW-Authenticate` challenge says a presented credential was refused
/// (RFC 6750 `error="invalid_token"`), as opposed to asking for one.
pub(crate) fn refuses_credential(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .any(|value| value.as_bytes().windows(13).any(|w| w == b"invalid_token"))
}

/// A `Retry-After` value: whole seconds, rounded up.
pub(crate) fn retry_after_seconds(after: std::time::Duration) -> u64 {
    after.as_secs() + u64::from(after.subsec_nanos() > 0)
}
