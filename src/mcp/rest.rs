//! The REST API: `GET /context/{id}`, `GET /context` (list), `POST /context` (batch read).

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use serde_json::{Map, Value, json};

use super::config::MAX_PAGE_SIZE;
use super::cursor;
use super::service::{BodyError, Shared, is_read, read_body, source_rejection, source_request};
use crate::context::timestamp::{http_date, rfc3339_millis};
use crate::context::{
    CacheScope, Content, Context, ContextId, ContextLabels, ContextSource, ListRequest,
    SourceRequest,
};
use crate::error::{BoxError, Dialect, EnvelopeBody, ErrorCode, Rejection, is_json_content_type};

const REST_PREFIX: &str = "/context/";

pub(super) async fn handle<S, B>(shared: &Shared<S>, request: Request<B>) -> Response<EnvelopeBody>
where
    S: ContextSource,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    // Only the parts are held across awaits: a body need not be `Sync`.
    let (parts, body) = request.into_parts();
    let result = if parts.uri.path() == "/context" {
        if is_read(&parts.method) {
            list(shared, &parts).await
        } else if parts.method == Method::POST {
            batch(shared, parts, body).await
        } else {
            Err(Rejection::method_not_allowed("GET, HEAD, POST"))
        }
    } else if is_read(&parts.method) {
        read(shared, &parts).await
    } else {
        Err(Rejection::method_not_allowed("GET, HEAD"))
    };
    result.unwrap_or_else(|rejection| rejection.into_response(Dialect::Rest))
}

/// Parses a query string, refusing parameters not in `allowed` and repeated ones.
fn parse_query<'a>(
    query: Option<&str>,
    allowed: &[&'a str],
) -> Result<BTreeMap<&'a str, String>, Rejection> {
    let mut params = BTreeMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |raw: &str| {
            percent_encoding::percent_decode_str(&raw.replace('+', " "))
                .decode_utf8()
                .map(std::borrow::Cow::into_owned)
                .map_err(|_| {
                    Rejection::bad_request("query string is not valid percent-encoded UTF-8")
                })
        };
        let key = decode(raw_key)?;
        let Some(name) = allowed.iter().find(|a| **a == key) else {
            return Err(Rejection::bad_request(format!(
                "unknown query parameter {key:?}; allowed: {}",
                allowed.join(", ")
            )));
        };
        if params.insert(*name, decode(raw_value)?).is_some() {
            return Err(Rejection::bad_request(format!(
                "query parameter {key:?} is repeated"
            )));
        }
    }
    Ok(params)
}

fn invalid_id(raw: &str, err: &impl std::fmt::Display) -> Rejection {
    Rejection::bad_request(format!("invalid context id: {err}"))
        .with_details(json!({ "contextId": raw, "reason": err.to_string() }))
}

async fn read<S: ContextSource>(
    shared: &Shared<S>,
    request: &Parts,
) -> Result<Response<EnvelopeBody>, Rejection> {
    let raw = &request.uri.path()[REST_PREFIX.len()..];
    let id = ContextId::from_percent_encoded(raw).map_err(|err| invalid_id(raw, &err))?;
    let query = parse_query(request.uri.query(), &["select"])?;
    let mut source_request = source_request(&request.headers, &request.extensions);
    source_request.selector = query.get("select").cloned();
    let context = shared
        .source
        .get(&id, &source_request)
        .await
        .map_err(|err| source_rejection(&err, id.as_str()))?;
    let mut response = context_response(
        &id,
        &context,
        &request.headers,
        request.method == Method::HEAD,
    );
    if !context.labels.is_empty() {
        response
            .extensions_mut()
            .insert(ContextLabels(context.labels.clone()));
    }
    Ok(response)
}

/// The seed's envelope: `{"contextId","version","timestamp","data":{"type","format","content"}}`.
pub(crate) fn envelope(id: &ContextId, context: &Context) -> Value {
    let timestamp = context.last_modified.unwrap_or_else(SystemTime::now);
    let mut data = Map::new();
    data.insert("type".into(), Value::from(context.data.kind.as_str()));
    data.insert("format".into(), Value::from(context.data.format.as_str()));
    match &context.data.content {
        Content::Text(text) => {
            data.insert("content".into(), Value::from(text.as_str()));
        }
        Content::Binary(bytes) => {
            data.insert("content".into(), Value::from(STANDARD.encode(bytes)));
            data.insert("encoding".into(), Value::from("base64"));
        }
    }
    json!({
        "contextId": id,
        "version": context.version,
        "timestamp": rfc3339_millis(timestamp)
            .or_else(|| rfc3339_millis(SystemTime::now()))
            .unwrap_or_default(),
        "data": data,
    })
}

fn etag(version: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("\"{version}\"")).ok()
}

fn cache_control(context: &Context) -> HeaderValue {
    let max_age = context.cache.ttl.map_or(0, |ttl| ttl.as_secs());
    let value = match context.cache.scope {
        CacheScope::NoStore => return HeaderValue::from_static("no-store"),
        CacheScope::Public => format!("public, max-age={max_age}"),
        CacheScope::Private => format!("private, max-age={max_age}"),
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("no-store"))
}

/// Whether `If-None-Match` names the current ETag (weak comparison, RFC 9110 §13.1.2).
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let current = etag.as_bytes();
    headers.get_all(header::IF_NONE_MATCH).iter().any(|value| {
        value.as_bytes().split(|b| *b == b',').any(|candidate| {
            let candidate = candidate.trim_ascii();
            let candidate = candidate.strip_prefix(b"W/").unwrap_or(candidate);
            candidate == b"*" || candidate == current
        })
    })
}

fn context_response(
    id: &ContextId,
    context: &Context,
    headers: &HeaderMap,
    head: bool,
) -> Response<EnvelopeBody> {
    let etag = etag(&context.version);
    let mut response = if etag
        .as_ref()
        .is_some_and(|etag| not_modified(headers, etag))
    {
        let mut response = Response::new(EnvelopeBody::default());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let body = serde_json::to_vec(&envelope(id, context)).unwrap_or_default();
        let length = body.len();
        let mut response = Response::new(if head {
            EnvelopeBody::default()
        } else {
            EnvelopeBody::new(Bytes::from(body))
        });
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if head {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        response
    };
    let headers = response.headers_mut();
    if let Some(etag) = etag {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, cache_control(context));
    if let Some(modified) = context.last_modified
        && let Some(date) = http_date(modified)
        && let Ok(value) = HeaderValue::from_str(&date)
    {
        headers.insert(header::LAST_MODIFIED, value);
    }
    response
}

async fn list<S: ContextSource>(
    shared: &Shared<S>,
    request: &Parts,
) -> Result<Response<EnvelopeBody>, Rejection> {
    let query = parse_query(request.uri.query(), &["prefix", "cursor", "limit"])?;
    let limit = match query.get("limit") {
        None => shared.config.page_size,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                Rejection::bad_request(format!(
                    "limit must be an integer from 1 to {MAX_PAGE_SIZE}"
                ))
            })?,
    };
    let mut list_request = ListRequest::new(limit);
    list_request.principal = source_request(&request.headers, &request.extensions).principal;
    list_request.prefix = query.get("prefix").cloned();
    if let Some(token) = query.get("cursor") {
        list_request.cursor =
            Some(cursor::decode(token).ok_or_else(|| Rejection::bad_request("invalid cursor"))?);
    }
    let page = shared
        .source
        .list(&list_request)
        .await
        .map_err(|err| source_rejection(&err, "(list)"))?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|meta| {
            let mut item = Map::new();
            item.insert("contextId".into(), Value::from(meta.id.as_str()));
            item.insert("type".into(), Value::from(meta.kind.as_str()));
            item.insert("mimeType".into(), Value::from(meta.mime_type.as_str()));
            if let Some(title) = &meta.title {
                item.insert("title".into(), Value::from(title.as_str()));
            }
            if let Some(size) = meta.size {
                item.insert("size".into(), Value::from(size));
            }
            if let Some(version) = &meta.version {
                item.insert("version".into(), Value::from(version.as_str()));
            }
            if !meta.labels.is_empty() {
                item.insert(
                    "labels".into(),
                    Value::from(meta.labels.iter().cloned().collect::<Vec<_>>()),
                );
            }
            Value::Object(item)
        })
        .collect();
    let mut body = json!({ "items": items });
    if let Some(next) = &page.next_cursor {
        body["nextCursor"] = Value::from(cursor::encode(next));
    }
    Ok(crate::error::json_response(StatusCode::OK, &body))
}

async fn batch<S, B>(
    shared: &Shared<S>,
    parts: Parts,
    body: B,
) -> Result<Response<EnvelopeBody>, Rejection>
where
    S: ContextSource,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    if !is_json_content_type(&parts.headers, false) {
        return Err(Rejection::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be application/json",
        ));
    }
    let bytes = read_body(&parts.headers, body, shared.config.body_limit)
        .await
        .map_err(|err| match err {
            BodyError::TooLarge => Rejection::new(
                ErrorCode::PayloadTooLarge,
                format!("the body exceeds {} bytes", shared.config.body_limit),
            ),
            BodyError::Unreadable => Rejection::bad_request("the body could not be read"),
        })?;
    let ids = parse_batch(&bytes, shared.config.max_batch)?;
    let source_request = source_request(&parts.headers, &parts.extensions);
    let reads = ids
        .iter()
        .map(|raw| batch_item(shared, raw, &source_request));
    let results = futures_util::future::join_all(reads).await;
    Ok(crate::error::json_response(
        StatusCode::OK,
        &json!({ "results": results }),
    ))
}

fn parse_batch(bytes: &[u8], max: usize) -> Result<Vec<String>, Rejection> {
    let shape = || Rejection::bad_request(r#"the body must be {"ids": ["<context id>", ...]}"#);
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|err| Rejection::bad_request(format!("the body is not valid JSON: {err}")))?;
    let Value::Object(mut object) = value else {
        return Err(shape());
    };
    let Some(Value::Array(ids)) = object.remove("ids") else {
        return Err(shape());
    };
    if !object.is_empty() {
        return Err(shape());
    }
    if ids.is_empty() || ids.len() > max {
        return Err(Rejection::bad_request(format!(
            "a batch names 1 to {max} ids"
        )));
    }
    ids.into_iter()
        .map(|id| match id {
            Value::String(id) => Ok(id),
            _ => Err(shape()),
        })
        .collect()
}

async fn batch_item<S: ContextSource>(
    shared: &Shared<S>,
    raw: &str,
    request: &SourceRequest,
) -> Value {
    let outcome = match ContextId::parse(raw) {
        Err(err) => Err(invalid_id(raw, &err)),
        Ok(id) => shared
            .source
            .get(&id, request)
            .await
            .map(|context| (envelope(&id, &context), context.labels))
            .map_err(|err| source_rejection(&err, id.as_str())),
    };
    match outcome {
        Ok((envelope, labels)) if !labels.is_empty() => {
            json!({ "contextId": raw, "status": 200, "labels": labels, "context": envelope })
        }
        Ok((envelope, _)) => json!({ "contextId": raw, "status": 200, "context": envelope }),
        Err(rejection) => json!({
            "contextId": raw,
            "status": rejection.status().as_u16(),
            "error": rejection.rest_body(None),
        }),
    }
}
