//! `resources/read`: one context as a result, a pending result, or the error.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::{
    Facts, MethodResult, as_method_error, invalid_params, meta_trace, method_error, progress,
};
use crate::context::{
    CacheScope, Content, ContextId, ContextSource, InvalidResourceUri, SourceError, SourceRequest,
};
use crate::error::{Rejection, jsonrpc};
use crate::mcp::RpcCall;
use crate::mcp::generation::Fetched;
use crate::mcp::protocol::{Era, META_PENDING, META_SELECTION, RESULT_TYPE_PENDING};
use crate::mcp::select::{self, Prepared, Read, ReadFailure};
use crate::mcp::service::{Shared, source_call, source_rejection};

/// The error for a resource URI that names no context, in `era`'s code.
fn resource_not_found(era: Era, uri: &str) -> Rejection {
    let code = match era {
        Era::Legacy => jsonrpc::RESOURCE_NOT_FOUND,
        Era::Modern => jsonrpc::INVALID_PARAMS,
    };
    method_error(code, "Resource not found", Some(json!({ "uri": uri })))
}

pub(super) async fn read_resource<S: ContextSource>(
    shared: &Shared<S>,
    era: Era,
    call: &RpcCall,
    request: &SourceRequest,
    facts: &mut Facts,
) -> Result<MethodResult, Rejection> {
    let uri = call
        .params
        .get("uri")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_params("Invalid params: uri must be a string"))?;
    let not_found = || resource_not_found(era, uri);
    let id = match shared.endpoint.uri_mapping.to_id(uri) {
        Ok(id) => id,
        Err(InvalidResourceUri::UnknownScheme(_) | InvalidResourceUri::NonCanonical(_)) => {
            return Err(not_found());
        }
        Err(err) => {
            return Err(method_error(
                jsonrpc::INVALID_PARAMS,
                format!("Invalid params: {err}"),
                Some(json!({ "uri": uri })),
            ));
        }
    };
    let requested =
        select::from_params(&call.params).map_err(|err| select_error(&ReadFailure::from(err)))?;
    let mut request = request.clone();
    let prepared = select::prepare(shared, &id, requested.as_ref(), &mut request)
        .map_err(|failure| select_error(&failure))?;
    let source = source_call(
        "get",
        &mut request.trace,
        meta_trace(call),
        request.request_span.as_ref(),
    );
    let token = progress::token(call).filter(|_| facts.may_stream);
    let (fetched, follow) = shared
        .fetch_or_follow(&id, request, source, token.is_some())
        .await;
    if let (Some(follow), Some(token)) = (follow, token) {
        facts.follow = Some(progress::Following {
            follow,
            uri: uri.to_owned(),
            id: id.clone(),
            token,
            selection: prepared.clone(),
        });
    }
    answer_read(uri, &id, era, &prepared, fetched, facts)
}

/// The answer to a `resources/read` of `uri` (context `id`) once the read is done or known
/// to be pending; records the context's labels and hint in `facts`.
pub(super) fn answer_read(
    uri: &str,
    id: &ContextId,
    era: Era,
    prepared: &Prepared,
    fetched: Fetched,
    facts: &mut Facts,
) -> Result<MethodResult, Rejection> {
    let not_found = || resource_not_found(era, uri);
    let Read {
        entry: context,
        selection,
    } = match select::finish(prepared, fetched) {
        Ok(read) => read,
        Err(ReadFailure::Pending(after)) => {
            facts.hint = Some(crate::context::CacheHint {
                ttl: None,
                scope: CacheScope::NoStore,
            });
            return Ok(pending(after));
        }
        Err(ReadFailure::Busy(after, crowd)) => {
            return Err(as_method_error(&crate::mcp::rest::busy(after, crowd)));
        }
        Err(ReadFailure::Source(err)) if matches!(*err, SourceError::NotFound) => {
            return Err(not_found());
        }
        Err(ReadFailure::Source(err)) => {
            return Err(as_method_error(&source_rejection(&err, id.as_str())));
        }
        Err(failure) => {
            if let ReadFailure::Select { labels, .. } = &failure {
                facts.labels.add(id, labels);
            }
            return Err(select_error(&failure));
        }
    };
    let mut content = Map::new();
    content.insert("uri".into(), Value::from(uri));
    content.insert(
        "mimeType".into(),
        Value::from(context.data.mime_type.as_str()),
    );
    match &context.data.content {
        Content::Text(text) => content.insert("text".into(), Value::from(text.as_str())),
        Content::Binary(bytes) => {
            content.insert("blob".into(), Value::from(STANDARD.encode(bytes)))
        }
    };
    if let Some(selection) = selection {
        content.insert(
            "_meta".into(),
            json!({ META_SELECTION: serde_json::to_value(selection).unwrap_or_default() }),
        );
    }
    let ttl_ms = context
        .cache
        .ttl
        .map_or(0, |ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
    let (ttl_ms, scope) = match context.cache.scope {
        CacheScope::Public => (ttl_ms, "public"),
        CacheScope::Private => (ttl_ms, "private"),
        CacheScope::NoStore => (0, "private"),
    };
    facts.labels.add(id, &context.labels);
    facts.hint = Some(context.cache);
    Ok(MethodResult {
        value: json!({ "contents": [Value::Object(content)] }),
        ttl_ms,
        scope,
        result_type: "complete",
    })
}

/// The result of a read whose context is still being generated: no contents, the retry hint
/// in `_meta` (and, in 2026-07-28, `resultType: "pending"` with `retryAfterMs`).
fn pending(after: std::time::Duration) -> MethodResult {
    let retry_after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
    let message = "the resource is being generated; read it again after retryAfterMs";
    MethodResult {
        value: json!({
            "contents": [],
            "retryAfterMs": retry_after_ms,
            "_meta": { META_PENDING: { "retryAfterMs": retry_after_ms, "message": message } },
        }),
        ttl_ms: 0,
        scope: "private",
        result_type: RESULT_TYPE_PENDING,
    }
}

/// A refused selection: -32602 naming the part at fault.
fn select_error(failure: &ReadFailure) -> Rejection {
    match failure {
        ReadFailure::Select {
            message, culprit, ..
        } => method_error(
            jsonrpc::INVALID_PARAMS,
            format!("Invalid params: {message}"),
            culprit.as_ref().map(|culprit| json!({ "select": culprit })),
        ),
        ReadFailure::Source(_) | ReadFailure::Pending(_) | ReadFailure::Busy(..) => {
            Rejection::internal()
        }
    }
}
