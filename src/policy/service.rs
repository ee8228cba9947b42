use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use pin_project_lite::pin_project;
use serde_json::{Value, json};
use tower_service::Service;

use super::layer::PolicyShared;
use super::model::{Action, Decision, Policy, RequestAttributes, Target};
use crate::context::{ContextId, ContextLabels};
use crate::error::{
    BodyOrEnvelope, BoxError, Dialect, EnvelopeBody, ErrorCode, JsonRpcError, Rejection, jsonrpc,
};
use crate::mcp::{
    BodyError, LABELS_META, RequestBody, RpcMessage, RpcTarget, classify_rpc, read_body,
};
use crate::principal::Principal;
use crate::server::ClientAddr;

/// Who a request without an authentication layer in front is.
static ANONYMOUS: std::sync::LazyLock<Principal> = std::sync::LazyLock::new(Principal::anonymous);

/// The service built by [`PolicyLayer`](super::PolicyLayer).
#[derive(Debug, Clone)]
pub struct Authorize<S> {
    inner: S,
    shared: Arc<PolicyShared>,
}

impl<S> Authorize<S> {
    pub(crate) fn new(inner: S, shared: Arc<PolicyShared>) -> Self {
        Self { inner, shared }
    }
}

type BoxedResponse<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<BodyOrEnvelope<B>>, E>> + Send>>;

pin_project! {
    /// The response future of [`Authorize`].
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Inner { #[pin] future: F, decision: Option<Decision>, recheck: Option<Box<Recheck>> },
        Refused { response: Option<Response<EnvelopeBody>> },
        Boxed { future: BoxedResponse<B, E> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<BodyOrEnvelope<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner {
                future,
                decision,
                recheck,
            } => {
                let mut response = ready!(future.poll(cx))?;
                let labels = response.extensions().get::<ContextLabels>();
                if let (Some(recheck), Some(labels)) = (recheck.take(), labels)
                    && let Some(refusal) = recheck.refusal(labels)
                {
                    return Poll::Ready(Ok(refusal.map(BodyOrEnvelope::envelope)));
                }
                if let Some(decision) = decision.take() {
                    response.extensions_mut().insert(decision);
                }
                Poll::Ready(Ok(response.map(BodyOrEnvelope::inner)))
            }
            StateProj::Refused { response } => {
                let response = response.take().expect("polled after completion");
                Poll::Ready(Ok(response.map(BodyOrEnvelope::envelope)))
            }
            StateProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

/// A decision to repeat once the source has said how sensitive the context is.
pub(crate) struct Recheck {
    shared: Arc<PolicyShared>,
    principal: Principal,
    action: Action,
    target: OwnedTarget,
    attributes: RequestAttributes,
}

impl Recheck {
    /// The refusal, if the labels the source gave turn the decision into a deny.
    fn refusal(mut self, labels: &ContextLabels) -> Option<Response<EnvelopeBody>> {
        self.attributes
            .resource_labels
            .extend(labels.0.iter().cloned());
        let policy = self.shared.policy.load();
        let decision = policy.decide(
            &self.principal,
            self.action,
            self.target.as_target(),
            &self.attributes,
        );
        log(&decision);
        (!decision.is_allowed()).then(|| {
            self.shared
                .refusal(&decision, &self.principal, Dialect::Rest, None)
        })
    }
}

/// What a request needs before it may proceed.
enum Plan {
    /// One decision, known now.
    Decide(Action, OwnedTarget),
    /// A REST listing: filter the items.
    RestList,
    /// A REST batch read: refuse denied items in the results.
    RestBatch,
    /// A JSON-RPC POST: read and classify the body first.
    JsonRpc,
    /// Not ours to judge (e.g. GET on the MCP endpoint).
    PassThrough,
}

enum OwnedTarget {
    Context(String),
    Grpc(String),
    Path(String),
}

impl OwnedTarget {
    fn as_target(&self) -> Target<'_> {
        match self {
            Self::Context(id) => Target::Context(id),
            Self::Grpc(path) => Target::Grpc(path),
            Self::Path(path) => Target::Path(path),
        }
    }
}

impl PolicyShared {
    fn plan<B>(&self, request: &Request<B>) -> Plan {
        let path = request.uri().path();
        let method = request.method();
        let read = method == Method::GET || method == Method::HEAD;
        if path == self.mcp_path {
            return if method == Method::POST {
                Plan::JsonRpc
            } else {
                Plan::PassThrough
            };
        }
        if path == "/context" {
            return match *method {
                Method::GET | Method::HEAD => Plan::RestList,
                Method::POST => Plan::RestBatch,
                _ => Plan::PassThrough,
            };
        }
        if let Some(raw) = path.strip_prefix("/context/") {
            // An invalid id is refused by the endpoint with 400; nothing to authorize.
            return match (read, ContextId::from_percent_encoded(raw)) {
                (true, Ok(id)) => {
                    Plan::Decide(Action::Read, OwnedTarget::Context(id.as_str().to_owned()))
                }
                _ => Plan::PassThrough,
            };
        }
        let grpc = request
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        if grpc {
            return Plan::Decide(Action::Call, OwnedTarget::Grpc(path.to_owned()));
        }
        let action = if read { Action::Read } else { Action::Write };
        Plan::Decide(action, OwnedTarget::Path(path.to_owned()))
    }

    /// The target of a resource URI: its context id when the mapping knows it.
    fn resource_target<'u>(&self, uri: &'u str, id: &'u mut Option<ContextId>) -> Target<'u> {
        *id = self.mapping.to_id(uri).ok();
        match id {
            Some(id) => Target::Context(id.as_str()),
            None => Target::Resource(uri),
        }
    }

    /// The response for a denied decision: 401 for anonymous callers, 403 otherwise
    /// (`insufficient_scope` when only scopes are missing).
    fn refusal(
        &self,
        decision: &Decision,
        principal: &Principal,
        dialect: Dialect,
        rpc_id: Option<Value>,
    ) -> Response<EnvelopeBody> {
        let mut rejection = if !decision.required_scopes.is_empty() {
            crate::auth::insufficient_scope(
                self.metadata.as_ref(),
                decision.required_scopes.iter().cloned(),
            )
        } else if principal.is_anonymous() {
            crate::auth::authentication_required(self.metadata.as_ref())
        } else {
            Rejection::new(
                ErrorCode::Forbidden,
                "Not authorized to access this context.",
            )
        };
        if let Some(id) = rpc_id {
            rejection = rejection.with_json_rpc(JsonRpcError {
                id,
                code: jsonrpc::INVALID_REQUEST,
                data: None,
            });
        }
        let mut response = rejection.into_response(dialect);
        response.extensions_mut().insert(decision.clone());
        response
    }
}

fn attributes<B>(request: &Request<B>, method: Option<String>) -> RequestAttributes {
    RequestAttributes {
        client_ip: request
            .extensions()
            .get::<ClientAddr>()
            .map(|addr| addr.0.ip()),
        method: Some(method.unwrap_or_else(|| request.method().as_str().to_owned())),
        ..RequestAttributes::default()
    }
}

fn log(decision: &Decision) {
    tracing::info!(
        target: "mcp_bastion::policy",
        subject = %decision.subject,
        action = %decision.action,
        target = %decision.target,
        rule = decision.rule.as_deref().unwrap_or("(default deny)"),
        effect = ?decision.effect,
        "policy decision"
    );
}

impl<S, B, ResBody> Service<Request<B>> for Authorize<S>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<BodyOrEnvelope<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        let plan = shared.plan(&request);
        let principal = request
            .extensions()
            .get::<Principal>()
            .unwrap_or(&ANONYMOUS);
        match plan {
            Plan::PassThrough => self.forward(request, None, None),
            Plan::Decide(action, target) => {
                let attributes = attributes(&request, None);
                let policy = shared.policy.load();
                let decision = policy.decide(principal, action, target.as_target(), &attributes);
                log(&decision);
                if decision.is_allowed() {
                    // Labels the source gives the context can still turn this into a deny.
                    let recheck = (policy.uses_labels()
                        && matches!(target, OwnedTarget::Context(_)))
                    .then(|| {
                        Box::new(Recheck {
                            shared: Arc::clone(&shared),
                            principal: principal.clone(),
                            action,
                            target,
                            attributes,
                        })
                    });
                    self.forward(request, Some(decision), recheck)
                } else {
                    let dialect = if matches!(target, OwnedTarget::Grpc(_)) {
                        Dialect::Grpc
                    } else {
                        Dialect::Rest
                    };
                    let response = shared.refusal(&decision, principal, dialect, None);
                    ResponseFuture {
                        state: State::Refused {
                            response: Some(response),
                        },
                    }
                }
            }
            Plan::RestList | Plan::RestBatch | Plan::JsonRpc => {
                let principal = principal.clone();
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                let future: BoxedResponse<ResBody, S::Error> = match plan {
                    Plan::JsonRpc => Box::pin(json_rpc(shared, inner, request, principal)),
                    _ => Box::pin(rest_listing(shared, inner, request, principal)),
                };
                ResponseFuture {
                    state: State::Boxed { future },
                }
            }
        }
    }
}

impl<S> Authorize<S> {
    fn forward<B, ResBody>(
        &mut self,
        request: Request<B>,
        decision: Option<Decision>,
        recheck: Option<Box<Recheck>>,
    ) -> ResponseFuture<S::Future, ResBody, S::Error>
    where
        S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
    {
        let future = self.inner.call(request.map(RequestBody::streaming));
        ResponseFuture {
            state: State::Inner {
                future,
                decision,
                recheck,
            },
        }
    }
}

/// Reads a response body for filtering; `None` when it is too large or fails.
async fn collect<B>(body: B, limit: usize) -> Option<Bytes>
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

fn rebuilt<B>(parts: http::response::Parts, body: Bytes) -> Response<BodyOrEnvelope<B>> {
    let mut response =
        Response::from_parts(parts, BodyOrEnvelope::envelope(EnvelopeBody::new(body)));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

fn upstream_failure<B>(dialect: Dialect) -> Response<BodyOrEnvelope<B>> {
    tracing::error!("a listing could not be read for filtering");
    Rejection::new(ErrorCode::BadGateway, "the listing could not be filtered")
        .into_response(dialect)
        .map(BodyOrEnvelope::envelope)
}

/// REST list and batch: the endpoint answers, then every item the caller may not read is
/// removed (list) or replaced by a 403 entry (batch).
async fn rest_listing<S, B, ResBody>(
    shared: Arc<PolicyShared>,
    mut inner: S,
    request: Request<B>,
    principal: Principal,
) -> Result<Response<BodyOrEnvelope<ResBody>>, S::Error>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    let attributes = attributes(&request, None);
    let batch = request.method() == Method::POST;
    let response = inner.call(request.map(RequestBody::streaming)).await?;
    if !response.status().is_success() {
        return Ok(response.map(BodyOrEnvelope::inner));
    }
    let (parts, body) = response.into_parts();
    let Some(bytes) = collect(body, shared.response_limit).await else {
        return Ok(upstream_failure(Dialect::Rest));
    };
    // What cannot be read cannot be filtered: fail closed.
    let Ok(mut document) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(upstream_failure(Dialect::Rest));
    };
    let policy = shared.policy.load();
    let may_read = |item: &Value| {
        let Some(id) = item.get("contextId").and_then(Value::as_str) else {
            return false;
        };
        let mut attributes = attributes.clone();
        attributes.resource_labels = labels_in(item.get("labels"));
        policy
            .decide(&principal, Action::Read, Target::Context(id), &attributes)
            .is_allowed()
    };
    if batch {
        if let Some(results) = document.get_mut("results").and_then(Value::as_array_mut) {
            for result in results.iter_mut() {
                let id = result
                    .get("contextId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let valid = ContextId::parse(&id).is_ok();
                if valid && !may_read(result) {
                    *result = json!({
                        "contextId": id,
                        "status": 403,
                        "error": {"code": "FORBIDDEN", "message": "Not authorized to access this context."},
                    });
                }
            }
        }
    } else if let Some(items) = document.get_mut("items").and_then(Value::as_array_mut) {
        items.retain(may_read);
    }
    Ok(rebuilt(
        parts,
        Bytes::from(serde_json::to_vec(&document).unwrap_or_default()),
    ))
}

/// Labels given as a JSON array of strings.
fn labels_in(value: Option<&Value>) -> std::collections::BTreeSet<String> {
    value
        .and_then(Value::as_array)
        .map(|labels| {
            labels
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The kind of listing a JSON-RPC request asked for, to filter its result.
#[derive(Clone, Copy)]
enum Listing {
    Resources,
    Tools,
    Prompts,
}

/// JSON-RPC on the MCP endpoint: classify once, decide every targeted call, forward the
/// buffered body, and filter list results of any inner server.
async fn json_rpc<S, B, ResBody>(
    shared: Arc<PolicyShared>,
    mut inner: S,
    request: Request<B>,
    principal: Principal,
) -> Result<Response<BodyOrEnvelope<ResBody>>, S::Error>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    let refused = |rejection: Rejection| {
        Ok(rejection
            .into_response(Dialect::JsonRpc)
            .map(BodyOrEnvelope::envelope))
    };
    let (parts, body) = request.into_parts();
    let bytes = match read_body(&parts.headers, body, shared.body_limit).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => {
            return refused(
                Rejection::new(ErrorCode::PayloadTooLarge, "Payload Too Large").with_json_rpc(
                    JsonRpcError {
                        id: Value::Null,
                        code: jsonrpc::INVALID_REQUEST,
                        data: None,
                    },
                ),
            );
        }
        Err(BodyError::Unreadable) => {
            return refused(
                Rejection::bad_request("Parse error: the body could not be read").with_json_rpc(
                    JsonRpcError {
                        id: Value::Null,
                        code: jsonrpc::PARSE_ERROR,
                        data: None,
                    },
                ),
            );
        }
    };
    let rpc = match classify_rpc(&parts.headers, &bytes) {
        Ok(rpc) => rpc,
        Err(rejection) => return refused(rejection),
    };
    let request = Request::from_parts(parts, ());
    let policy = shared.policy.load();
    let mut listings: Vec<(Value, Listing)> = Vec::new();
    let mut decisions = Vec::new();
    let mut reads = Vec::new();
    for message in &rpc.messages {
        let RpcMessage::Call(call) = message else {
            continue;
        };
        let attributes = attributes(&request, Some(call.method.clone()));
        let mut mapped = None;
        let (action, target) = match (&call.target, call.method.as_str()) {
            (Some(RpcTarget::Resource(uri)), _) => {
                (Action::Read, shared.resource_target(uri, &mut mapped))
            }
            (Some(RpcTarget::Tool(name)), _) => (Action::Call, Target::Tool(name)),
            (Some(RpcTarget::Prompt(name)), _) => (Action::Read, Target::Prompt(name)),
            (None, method) => {
                let listing = match method {
                    "resources/list" => Some(Listing::Resources),
                    "tools/list" => Some(Listing::Tools),
                    "prompts/list" => Some(Listing::Prompts),
                    _ => None,
                };
                if let (Some(listing), Some(id)) = (listing, &call.id) {
                    listings.push((id.clone(), listing));
                }
                continue;
            }
        };
        let decision = policy.decide(&principal, action, target, &attributes);
        log(&decision);
        if !decision.is_allowed() {
            let id = call.id.clone().unwrap_or(Value::Null);
            let response = shared.refusal(&decision, &principal, Dialect::JsonRpc, Some(id));
            return Ok(response.map(BodyOrEnvelope::envelope));
        }
        if action == Action::Read {
            let is_context = matches!(target, Target::Context(_));
            let id = call.id.clone().unwrap_or(Value::Null);
            reads.push((id, target.value().to_owned(), is_context, attributes));
        }
        decisions.push(decision);
    }
    let mut request = request.map(|()| RequestBody::buffered(bytes));
    // The endpoint behind reuses the classification instead of parsing the body again.
    request.extensions_mut().insert(rpc);
    let mut response = inner.call(request).await?;
    // Labels the source gave the contexts read can still turn an allow into a deny.
    let labels = response
        .extensions()
        .get::<ContextLabels>()
        .filter(|_| policy.uses_labels());
    if let Some(labels) = labels {
        for (id, target, is_context, mut attributes) in reads {
            attributes.resource_labels.extend(labels.0.iter().cloned());
            let target = if is_context {
                Target::Context(&target)
            } else {
                Target::Resource(&target)
            };
            let decision = policy.decide(&principal, Action::Read, target, &attributes);
            if !decision.is_allowed() {
                log(&decision);
                let refusal = shared.refusal(&decision, &principal, Dialect::JsonRpc, Some(id));
                return Ok(refusal.map(BodyOrEnvelope::envelope));
            }
        }
    }
    if let Some(decision) = decisions.pop() {
        response.extensions_mut().insert(decision);
    }
    if listings.is_empty() || !response.status().is_success() {
        return Ok(response.map(BodyOrEnvelope::inner));
    }
    let (parts, body) = response.into_parts();
    let Some(bytes) = collect(body, shared.response_limit).await else {
        return Ok(upstream_failure(Dialect::JsonRpc));
    };
    let filter =
        |message: &mut Value| filter_listing(&shared, &policy, &principal, &listings, message);
    let event_stream = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let filtered = if event_stream {
        filter_event_stream(&bytes, filter)
    } else {
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .map(|mut document| {
                match &mut document {
                    Value::Array(messages) => messages.iter_mut().for_each(filter),
                    message => filter(message),
                }
                Bytes::from(serde_json::to_vec(&document).unwrap_or_default())
            })
    };
    // What cannot be read cannot be filtered: fail closed.
    Ok(match filtered {
        Some(filtered) => rebuilt(parts, filtered),
        None => upstream_failure(Dialect::JsonRpc),
    })
}

/// Removes from a list result every entry the caller may not use.
fn filter_listing(
    shared: &PolicyShared,
    policy: &Policy,
    principal: &Principal,
    listings: &[(Value, Listing)],
    message: &mut Value,
) {
    let Some(listing) = message
        .get("id")
        .and_then(|id| listings.iter().find(|(listed, _)| listed == id))
        .map(|(_, listing)| *listing)
    else {
        return;
    };
    let attributes = RequestAttributes::default();
    let (field, key) = match listing {
        Listing::Resources => ("resources", "uri"),
        Listing::Tools => ("tools", "name"),
        Listing::Prompts => ("prompts", "name"),
    };
    let Some(items) = message
        .pointer_mut(&format!("/result/{field}"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    items.retain(|item| {
        let Some(name) = item.get(key).and_then(Value::as_str) else {
            return false;
        };
        let mut mapped = None;
        let mut attributes = attributes.clone();
        attributes.resource_labels =
            labels_in(item.get("_meta").and_then(|meta| meta.get(LABELS_META)));
        let (action, target) = match listing {
            Listing::Resources => (Action::Read, shared.resource_target(name, &mut mapped)),
            Listing::Tools => (Action::Call, Target::Tool(name)),
            Listing::Prompts => (Action::Read, Target::Prompt(name)),
        };
        policy
            .decide(principal, action, target, &attributes)
            .is_allowed()
    });
}

/// Applies `filter` to the JSON of every `data:` line of an event stream.
/// `None` when a non-empty `data:` line is not JSON (e.g. an event split over several lines).
fn filter_event_stream(bytes: &[u8], mut filter: impl FnMut(&mut Value)) -> Option<Bytes> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\r', '\n']);
        let ending = &line[content.len()..];
        match content
            .strip_prefix("data:")
            .map(str::trim_start)
            .map(serde_json::from_str::<Value>)
        {
            Some(Ok(mut message)) => {
                filter(&mut message);
                out.push_str("data: ");
                out.push_str(&serde_json::to_string(&message).unwrap_or_default());
                out.push_str(ending);
            }
            Some(Err(_)) if !content["data:".len()..].trim().is_empty() => return None,
            _ => out.push_str(line),
        }
    }
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_streams_are_filtered_or_refused() {
        let stream =
            b"id: 1\ndata: \n\nevent: message\ndata: {\"id\":1,\"result\":{\"tools\":[1,2]}}\r\n\n";
        let filtered = filter_event_stream(stream, |message| {
            message["result"]["tools"] = json!([1]);
        })
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&filtered).unwrap(),
            "id: 1\ndata: \n\nevent: message\ndata: {\"id\":1,\"result\":{\"tools\":[1]}}\r\n\n"
        );
        // An event whose data spans lines cannot be parsed line by line: refuse it.
        assert!(filter_event_stream(b"data: {\"id\":\ndata: 1}\n\n", |_| {}).is_none());
        assert!(filter_event_stream(&[0xff, 0xfe], |_| {}).is_none());
    }
}
