//! The REST API: `GET /context/{id}`, `GET /context` (list), `POST /context` (batch read).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use serde_json::json;

use super::conditional::not_modified;
use super::cursor;
use super::endpoint::MAX_PAGE_SIZE;
use super::generation::{Crowd, Unready};
use super::select::{self, Read, ReadFailure, Requested};
use super::service::{Shared, source_call, source_rejection, source_request};
use super::wire::{
    BatchResult, BatchResults, ContextEnvelope, ContextListItem, ContextListing, EnvelopeData,
    Selection, to_bytes,
};
use crate::context::timestamp::{http_date, rfc3339_millis};
use crate::context::{
    CacheHint, CacheScope, Content, ContextEntry, ContextId, ContextLabels, ContextSource,
    ListRequest, SourceError, SourceRequest,
};
use crate::error::{Dialect, FullBody, Rejection};

/// Parses a query string into its decoded pairs, in order, refusing parameters not in
/// `allowed` and repeats of those not in `repeatable`.
pub(crate) fn parse_pairs<'a>(
    query: Option<&str>,
    allowed: &[&'a str],
    repeatable: &[&str],
) -> Result<Vec<(&'a str, String)>, Rejection> {
    let mut pairs: Vec<(&'a str, String)> = Vec::new();
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
        if !repeatable.contains(name) && pairs.iter().any(|(seen, _)| seen == name) {
            return Err(Rejection::bad_request(format!(
                "query parameter {key:?} is repeated"
            )));
        }
        pairs.push((*name, decode(raw_value)?));
    }
    Ok(pairs)
}

/// Parses a query string, refusing parameters not in `allowed` and repeated ones.
fn parse_query<'a>(
    query: Option<&str>,
    allowed: &[&'a str],
) -> Result<BTreeMap<&'a str, String>, Rejection> {
    Ok(parse_pairs(query, allowed, &[])?.into_iter().collect())
}

/// The parameters of a read: a selection (`select` may be repeated).
pub(crate) fn read_selection(query: Option<&str>) -> Result<Option<Requested>, Rejection> {
    let pairs = parse_pairs(query, &["select", "limit", "cursor"], &["select"])?;
    select::from_query(&pairs).map_err(|err| select_rejection(&err.into()))
}

/// A refused selection: 400 naming the part at fault.
fn select_rejection(failure: &ReadFailure) -> Rejection {
    match failure {
        ReadFailure::Select {
            message, culprit, ..
        } => {
            let rejection = Rejection::bad_request(message.clone());
            match culprit {
                Some(culprit) => rejection.with_details(json!({ "select": culprit })),
                None => rejection,
            }
        }
        ReadFailure::Source(_) | ReadFailure::Pending(_) | ReadFailure::Busy(..) => {
            Rejection::internal()
        }
    }
}

fn invalid_id(raw: &str, err: &impl std::fmt::Display) -> Rejection {
    Rejection::bad_request(format!("invalid context id: {err}"))
        .with_details(json!({ "contextId": raw, "reason": err.to_string() }))
}

pub(super) async fn read<S: ContextSource>(
    shared: &Shared<S>,
    request: &Parts,
    id: ContextId,
) -> Result<Response<FullBody>, Rejection> {
    let requested = read_selection(request.uri.query())?;
    let source_request = source_request(&request.headers, &request.extensions);
    let authenticated = source_request
        .principal
        .as_deref()
        .is_some_and(|principal| !principal.is_anonymous());
    let read = select::read(shared, &id, requested, source_request, None).await;
    let Read { entry, selection } = match read {
        Ok(read) => read,
        Err(ReadFailure::Source(err)) => return Err(source_rejection(&err, id.as_str())),
        Err(ReadFailure::Pending(after)) => return Ok(pending(request, &id, after)),
        Err(ReadFailure::Busy(after, crowd)) => return Err(busy(after, crowd)),
        Err(failure) => {
            let mut response = select_rejection(&failure).into_response(Dialect::Rest);
            if let ReadFailure::Select { labels, .. } = &failure {
                let mut found = ContextLabels::default();
                found.add(&id, labels);
                found.attach(&mut response);
            }
            return Ok(response);
        }
    };
    let context = entry;
    let mut response = context_response(
        &id,
        &context,
        selection,
        &request.headers,
        request.method == Method::HEAD,
        authenticated,
    );
    let mut labels = ContextLabels::default();
    labels.add(&id, &context.labels);
    labels.attach(&mut response);
    Ok(response)
}

/// `202 Accepted` for a context still being generated: `Retry-After`, `Location` (this same
/// read: reading it again joins the job) and a small status document
/// `{"status":"pending","contextId","retryAfter","message"}`; never stored by a cache.
fn pending(request: &Parts, id: &ContextId, after: std::time::Duration) -> Response<FullBody> {
    let seconds = crate::error::retry_after_seconds(after).max(1);
    let body = json!({
        "status": "pending",
        "contextId": id.as_str(),
        "retryAfter": seconds,
        "message": "the context is being generated; read it again at Location after Retry-After seconds",
    });
    let mut response = crate::error::json_response(StatusCode::ACCEPTED, &body);
    if request.method == Method::HEAD {
        *response.body_mut() = FullBody::default();
    }
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(location) = request
        .uri
        .path_and_query()
        .and_then(|target| HeaderValue::from_str(target.as_str()).ok())
    {
        headers.insert(header::LOCATION, location);
    }
    response.extensions_mut().insert(CacheHint {
        ttl: None,
        scope: CacheScope::NoStore,
    });
    response
}

/// The refusal when the generation job table is full.
/// The refusal of a read that cannot start a generation job: 503 when the table is full, 429
/// when the caller already holds its share (its own excess, not the server failing).
pub(super) fn busy(after: std::time::Duration, crowd: Crowd) -> Rejection {
    match crowd {
        Crowd::Table => Rejection::new(
            crate::error::ErrorCode::Unavailable,
            "too many contexts are being generated; retry later",
        ),
        Crowd::Caller => Rejection::new(
            crate::error::ErrorCode::RateLimited,
            "you have too many contexts being generated; read those first or retry later",
        ),
    }
    .with_retry_after(after)
}

/// The seed's envelope: `{"contextId","version","timestamp","data":{"type","format","content"}}`.
pub(crate) fn envelope<'c>(id: &'c ContextId, context: &'c ContextEntry) -> ContextEnvelope<'c> {
    let timestamp = context.last_modified.unwrap_or_else(SystemTime::now);
    let (content, encoding) = match &context.data.content {
        Content::Text(text) => (Cow::Borrowed(text.as_str()), None),
        Content::Binary(bytes) => (
            Cow::Owned(STANDARD.encode(bytes)),
            Some(Cow::Borrowed("base64")),
        ),
    };
    ContextEnvelope {
        context_id: Cow::Borrowed(id.as_str()),
        version: Cow::Borrowed(&context.version),
        timestamp: rfc3339_millis(timestamp)
            .or_else(|| rfc3339_millis(SystemTime::now()))
            .unwrap_or_default(),
        data: EnvelopeData {
            kind: Cow::Borrowed(&context.data.kind),
            format: Cow::Borrowed(&context.data.format),
            content,
            encoding,
        },
        selection: None,
    }
}

fn etag(version: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("\"{version}\"")).ok()
}

/// `Cache-Control` for a context: `private` whenever the request was authenticated, since
/// what a caller may read depends on who they are (a shared cache must not keep it).
fn cache_control(context: &ContextEntry, authenticated: bool) -> HeaderValue {
    let max_age = context.cache.ttl.map_or(0, |ttl| ttl.as_secs());
    let value = match context.cache.scope {
        CacheScope::NoStore => return HeaderValue::from_static("no-store"),
        CacheScope::Public if !authenticated => format!("public, max-age={max_age}"),
        CacheScope::Public | CacheScope::Private => format!("private, max-age={max_age}"),
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("no-store"))
}

fn context_response(
    id: &ContextId,
    context: &ContextEntry,
    selection: Option<Selection>,
    headers: &HeaderMap,
    head: bool,
    authenticated: bool,
) -> Response<FullBody> {
    let etag = etag(&context.version);
    let last_modified = context
        .last_modified
        .and_then(http_date)
        .and_then(|date| HeaderValue::from_str(&date).ok());
    let mut response = if not_modified(headers, etag.as_ref(), last_modified.as_ref()) {
        let mut response = Response::new(FullBody::default());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut envelope = envelope(id, context);
        envelope.selection = selection;
        let body = to_bytes(&envelope);
        let length = body.len();
        let mut response = Response::new(if head {
            FullBody::default()
        } else {
            FullBody::new(body)
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
    headers.insert(header::CACHE_CONTROL, cache_control(context, authenticated));

    if let Some(value) = last_modified {
        headers.insert(header::LAST_MODIFIED, value);
    }
    // The source's own hint, for a cache in front (the headers are for the client).
    response.extensions_mut().insert(context.cache);
    response
}

pub(super) async fn list<S: ContextSource>(
    shared: &Shared<S>,
    request: &Parts,
) -> Result<Response<FullBody>, Rejection> {
    let query = parse_query(request.uri.query(), &["prefix", "cursor", "limit"])?;
    let limit = match query.get("limit") {
        None => shared.endpoint.page_size,
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
    let caller = source_request(&request.headers, &request.extensions);
    list_request.principal = caller.principal;
    list_request.trace = caller.trace;
    list_request.prefix = query.get("prefix").cloned();
    let keys = &shared.endpoint.cursor_keys;
    let scope = cursor::scope(
        "rest",
        list_request.principal.as_deref(),
        list_request.prefix.as_deref(),
    );
    if let Some(token) = query.get("cursor") {
        list_request.cursor = Some(keys.open(&scope, token).ok_or_else(|| {
            Rejection::bad_request("invalid cursor: not one this server issued for this listing")
        })?);
    }
    let call = source_call(
        "list",
        &mut list_request.trace,
        None,
        caller.request_span.as_ref(),
    );
    let page = call
        .run(shared.source.list(&list_request))
        .await
        .map_err(|err| source_rejection(&err, "(list)"))?;
    let mut labels = ContextLabels::default();
    let items = page
        .items
        .into_iter()
        .map(|meta| {
            labels.add(&meta.id, &meta.labels);
            ContextListItem {
                context_id: meta.id.as_str().to_owned(),
                kind: meta.kind,
                mime_type: meta.mime_type,
                title: meta.title,
                size: meta.size,
                version: meta.version,
            }
        })
        .collect();
    let listing = ContextListing {
        items,
        next_cursor: page
            .next_cursor
            .as_deref()
            .and_then(|position| keys.seal(&scope, position)),
    };
    let mut response = crate::error::json_bytes_response(StatusCode::OK, to_bytes(&listing));
    labels.attach(&mut response);
    Ok(response)
}

pub(super) async fn batch<S: ContextSource>(
    shared: &Shared<S>,
    parts: &Parts,
    ids: &[String],
) -> Response<FullBody> {
    let source_request = source_request(&parts.headers, &parts.extensions);
    // An id asked twice is read once and answered twice: a batch of one slow id repeated
    // costs one source call, not a hundred.
    let mut unique: Vec<&str> = ids.iter().map(String::as_str).collect();
    unique.sort_unstable();
    unique.dedup();
    let reads = unique
        .iter()
        .map(|raw| batch_item(shared, raw, &source_request));
    let read: std::collections::HashMap<&str, _> = unique
        .iter()
        .copied()
        .zip(futures_util::future::join_all(reads).await)
        .collect();
    let mut labels = ContextLabels::default();
    let budget = shared.endpoint.max_batch_response();
    let mut spent = 0;
    let results = ids
        .iter()
        .filter_map(|raw| read.get(raw.as_str()).cloned())
        .map(|(result, id, item_labels)| {
            // A batch pays for what it makes the server send: past the budget, items are
            // answered with an error instead of their content.
            spent += serde_json::to_vec(&result).map_or(0, |bytes| bytes.len());
            if spent > budget {
                let rejection = Rejection::new(
                    crate::error::ErrorCode::PayloadTooLarge,
                    format!("the answers to this batch exceed {budget} bytes; ask for fewer ids"),
                );
                return BatchResult {
                    context_id: result.context_id,
                    status: rejection.status().as_u16(),
                    context: None,
                    error: Some(rejection.rest_body(None)),
                };
            }
            if let Some(id) = id {
                labels.add(&id, &item_labels);
            }
            result
        })
        .collect();
    let mut response =
        crate::error::json_bytes_response(StatusCode::OK, to_bytes(&BatchResults { results }));
    labels.attach(&mut response);
    response
}

/// One id of a batch: its result, and the labels the source gave it.
async fn batch_item<S: ContextSource>(
    shared: &Shared<S>,
    raw: &str,
    request: &SourceRequest,
) -> (
    BatchResult,
    Option<ContextId>,
    std::collections::BTreeSet<String>,
) {
    let failed = |rejection: Rejection| BatchResult {
        context_id: raw.to_owned(),
        status: rejection.status().as_u16(),
        context: None,
        error: Some(rejection.rest_body(None)),
    };
    let id = match ContextId::parse(raw) {
        Ok(id) => id,
        Err(err) => {
            return (
                failed(invalid_id(raw, &err)),
                None,
                std::collections::BTreeSet::default(),
            );
        }
    };
    let mut request = request.clone();
    let call = source_call(
        "get",
        &mut request.trace,
        None,
        request.request_span.as_ref(),
    );
    // Through the generation jobs when they are on: their bounds hold for batches too.
    let failure = match shared.fetch(&id, request, call).await {
        Ok(context) => {
            let result = BatchResult {
                context_id: raw.to_owned(),
                status: 200,
                context: serde_json::to_value(envelope(&id, &context)).ok(),
                error: None,
            };
            return (result, Some(id), context.labels.clone());
        }
        Err(Unready::Pending(retry_after)) => {
            source_rejection(&SourceError::Pending { retry_after }, id.as_str())
        }
        Err(Unready::Busy(after, crowd)) => busy(after, crowd),
        Err(Unready::Failed(err)) => source_rejection(&err, id.as_str()),
    };
    (failed(failure), None, std::collections::BTreeSet::default())
}
