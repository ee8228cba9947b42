//! Filtering what the inner service answers: REST listings and batch reads, and the
//! `resources/list`, `tools/list` and `prompts/list` results of any MCP server (JSON or
//! SSE). What cannot be read cannot be filtered: such answers fail closed.

use bytes::Bytes;
use http::{Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::decide::{Listing, labels_or_empty, may_list};
use super::layer::PolicyShared;
use super::model::{Action, Policy, RequestAttributes, Target};
use super::sse::filter_event_stream;
use crate::context::{ContextId, ContextLabels};
use crate::error::{BodyOrEnvelope, BoxError, Dialect, ErrorCode, FullBody, Rejection};
use crate::mcp::{
    BatchResults, ContextListing, PromptList, ResourceList, TemplateList, ToolList, wire_bytes,
};
use crate::principal::Principal;

/// Reads a response body for filtering; `None` when it is too large or fails.
pub(crate) async fn collect<B>(body: B, limit: usize) -> Option<Bytes>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    Limited::new(body, limit)
        .collect()
        .await
        .ok()
        .map(http_body_util::Collected::to_bytes)
}

/// The response with a new, filtered body.
pub(crate) fn rebuilt<B>(parts: http::response::Parts, body: Bytes) -> Response<BodyOrEnvelope<B>> {
    let mut response = Response::from_parts(parts, BodyOrEnvelope::envelope(FullBody::new(body)));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

/// 502: an answer that could not be filtered is not passed on.
pub(crate) fn unfilterable<B>(dialect: Dialect) -> Response<BodyOrEnvelope<B>> {
    tracing::error!("a listing could not be read for filtering");
    Rejection::new(ErrorCode::BadGateway, "the listing could not be filtered")
        .into_response(dialect)
        .map(BodyOrEnvelope::envelope)
}

/// What the REST filter needs to decide each item.
pub(crate) struct RestFilter<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) principal: &'a Principal,
    /// The request's attributes (client address, HTTP method).
    pub(crate) attributes: &'a RequestAttributes,
    pub(crate) labels: Option<&'a ContextLabels>,
}

impl RestFilter<'_> {
    fn attributes(&self, id: &str) -> RequestAttributes {
        let mut attributes = self.attributes.clone();
        attributes.resource_labels = labels_or_empty(self.labels, id);
        attributes
    }

    fn may_read(&self, id: &str) -> bool {
        let attributes = self.attributes(id);
        self.policy
            .decide(
                self.principal,
                Action::Read,
                Target::Context(id),
                &attributes,
            )
            .is_allowed()
    }

    /// A REST listing without the items the caller may not list; `None` if unreadable.
    pub(crate) fn listing(&self, bytes: &[u8]) -> Option<Bytes> {
        let mut listing: ContextListing = serde_json::from_slice(bytes).ok()?;
        listing.items.retain(|item| {
            let id = item.context_id.as_str();
            let attributes = self.attributes(id);
            may_list(
                self.policy,
                self.principal,
                Action::Read,
                Target::Context(id),
                &attributes,
            )
        });
        Some(wire_bytes(&listing))
    }

    /// A batch read with every item the caller may not read replaced by a 403 entry.
    pub(crate) fn batch(&self, bytes: &[u8]) -> Option<Bytes> {
        let mut batch: BatchResults = serde_json::from_slice(bytes).ok()?;
        for result in &mut batch.results {
            let valid = ContextId::parse(&result.context_id).is_ok();
            if valid && !self.may_read(&result.context_id) {
                result.status = 403;
                result.context = None;
                result.error = Some(json!({
                    "code": "FORBIDDEN",
                    "message": "Not authorized to access this context.",
                }));
            }
        }
        Some(wire_bytes(&batch))
    }
}

/// What the JSON-RPC filter needs to decide each listed entry.
pub(crate) struct RpcFilter<'a> {
    pub(crate) shared: &'a PolicyShared,
    pub(crate) policy: &'a Policy,
    pub(crate) principal: &'a Principal,
    /// The request's attributes (client address); the method is each listing's.
    pub(crate) attributes: &'a RequestAttributes,
    pub(crate) labels: Option<&'a ContextLabels>,
    pub(crate) listings: &'a [(Value, Listing)],
    pub(crate) call_ids: &'a [Value],
}

impl RpcFilter<'_> {
    /// A JSON-RPC answer (one message, a batch, or an event stream) with every listing
    /// filtered; `None` when it cannot be read.
    pub(crate) fn answer(&self, content_type: Option<&[u8]>, bytes: &[u8]) -> Option<Bytes> {
        if content_type.is_some_and(|v| v.starts_with(b"text/event-stream")) {
            return filter_event_stream(bytes, |message| self.message(message));
        }
        let mut document: Value = serde_json::from_slice(bytes).ok()?;
        let filtered = match &mut document {
            Value::Array(messages) => messages.iter_mut().all(|message| self.message(message)),
            message => self.message(message),
        };
        filtered.then(|| wire_bytes(&document))
    }

    /// Filters one message if it answers a listing; `false` when its result has not the
    /// shape of that listing (fail closed).
    fn message(&self, message: &mut Value) -> bool {
        // An answer must answer a call that was made, by its exact id: one that names
        // another (`1.0` for `1`, `"1"` for `1`) would slip past the filter for a client
        // that compares ids loosely. Requests the server sends (they have a method) are not
        // answers.
        let is_answer = message.get("method").is_none()
            && (message.get("result").is_some() || message.get("error").is_some());
        if is_answer
            && let Some(id) = message.get("id").filter(|id| !id.is_null())
            && !self.call_ids.contains(id)
        {
            return false;
        }
        let Some(listing) = message
            .get("id")
            .and_then(|id| self.listings.iter().find(|(listed, _)| listed == id))
            .map(|(_, listing)| *listing)
        else {
            return true;
        };
        let Some(result) = message.get_mut("result") else {
            return true; // an error answer lists nothing
        };
        match listing {
            Listing::Resources => retain::<ResourceList>(result, |list| {
                list.resources
                    .retain(|resource| self.may_use(listing, &resource.uri));
            }),
            Listing::Tools => retain::<ToolList>(result, |list| {
                list.tools.retain(|tool| self.may_use(listing, &tool.name));
            }),
            Listing::Prompts => retain::<PromptList>(result, |list| {
                list.prompts
                    .retain(|prompt| self.may_use(listing, &prompt.name));
            }),
            Listing::Templates => retain::<TemplateList>(result, |list| {
                list.resource_templates
                    .retain(|template| self.may_use(listing, &template.uri_template));
            }),
        }
    }

    fn may_use(&self, listing: Listing, name: &str) -> bool {
        let method = match listing {
            Listing::Resources => "resources/list",
            Listing::Templates => "resources/templates/list",
            Listing::Tools => "tools/list",
            Listing::Prompts => "prompts/list",
        };
        let mut attributes = self.attributes.clone();
        attributes.method = Some(method.to_owned());
        let mut mapped = None;
        let (action, target) = match listing {
            Listing::Resources => (Action::Read, self.shared.resource_target(name, &mut mapped)),
            // A template is a pattern, not a resource: it is judged as the URI it spells.
            Listing::Templates => (Action::Read, Target::Resource(name)),
            Listing::Tools => (Action::Call, Target::Tool(name)),
            Listing::Prompts => (Action::Read, Target::Prompt(name)),
        };
        if let Target::Context(id) = target {
            attributes.resource_labels = labels_or_empty(self.labels, id);
        }
        may_list(self.policy, self.principal, action, target, &attributes)
    }
}

/// Parses `result` as `T`, applies `filter`, writes it back; `false` when it is not a `T`.
fn retain<T: Serialize + DeserializeOwned>(
    result: &mut Value,
    filter: impl FnOnce(&mut T),
) -> bool {
    let Ok(mut list) = serde_json::from_value::<T>(result.take()) else {
        return false;
    };
    filter(&mut list);
    match serde_json::to_value(list) {
        Ok(value) => {
            *result = value;
            true
        }
        Err(_) => false,
    }
}
