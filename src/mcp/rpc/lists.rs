//! The listings of the MCP endpoint: `resources/list` (sealed cursors) and
//! `resources/templates/list`.

use serde_json::{Map, Value, json};

use super::super::cursor;
use super::super::service::{Shared, source_call, source_rejection};
use super::super::wire::{Resource, ResourceList};
use super::{Facts, MethodResult, as_method_error, invalid_params, meta_trace};
use crate::context::{ContextSource, ListRequest, SourceRequest};
use crate::error::Rejection;
use crate::mcp::classify::RpcCall;

fn cursor_param<S>(
    shared: &Shared<S>,
    call: &RpcCall,
    scope: &str,
) -> Result<Option<String>, Rejection> {
    match call.params.get("cursor") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(token)) => shared
            .endpoint
            .cursor_keys
            .open(scope, token)
            .map(Some)
            .ok_or_else(|| invalid_params("Invalid params: unknown cursor")),
        Some(_) => Err(invalid_params("Invalid params: cursor must be a string")),
    }
}

pub(super) async fn list_resources<S: ContextSource>(
    shared: &Shared<S>,
    call: &RpcCall,
    request: &SourceRequest,
    facts: &mut Facts,
) -> Result<MethodResult, Rejection> {
    let mut list_request = ListRequest::new(shared.endpoint.page_size);
    let scope = cursor::scope("rpc", request.principal.as_deref(), None);
    list_request.cursor = cursor_param(shared, call, &scope)?;
    list_request.principal.clone_from(&request.principal);
    list_request.trace.clone_from(&request.trace);
    let source = source_call(
        "list",
        &mut list_request.trace,
        meta_trace(call),
        request.request_span.as_ref(),
    );
    let page = source
        .run(shared.source.list(&list_request))
        .await
        .map_err(|err| as_method_error(&source_rejection(&err, "(list)")))?;
    let mapping = &shared.endpoint.uri_mapping;
    let resources = page
        .items
        .into_iter()
        .map(|meta| {
            facts.labels.add(&meta.id, &meta.labels);
            Resource {
                uri: mapping.to_uri(&meta.id),
                name: meta.id.as_str().to_owned(),
                title: meta.title,
                description: meta.description,
                mime_type: Some(meta.mime_type),
                size: meta.size,
                other: Map::new(),
            }
        })
        .collect();
    let result = ResourceList {
        resources,
        next_cursor: page
            .next_cursor
            .as_deref()
            .and_then(|position| shared.endpoint.cursor_keys.seal(&scope, position)),
        other: Map::new(),
    };
    Ok(serde_json::to_value(result)
        .map_err(|_| Rejection::internal())?
        .into())
}

pub(super) fn list_templates<S: ContextSource>(shared: &Shared<S>) -> MethodResult {
    let templates: Vec<Value> = shared
        .source
        .templates()
        .into_iter()
        .map(|template| {
            let mut item = Map::new();
            item.insert("uriTemplate".into(), Value::from(template.uri_template));
            item.insert("name".into(), Value::from(template.name));
            if let Some(title) = template.title {
                item.insert("title".into(), Value::from(title));
            }
            if let Some(description) = template.description {
                item.insert("description".into(), Value::from(description));
            }
            if let Some(mime_type) = template.mime_type {
                item.insert("mimeType".into(), Value::from(mime_type));
            }
            Value::Object(item)
        })
        .collect();
    json!({ "resourceTemplates": templates }).into()
}
