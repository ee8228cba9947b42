//! [`PolicyService`]: classify (once), decide, forward, and filter what needs filtering.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use tower_service::Service;

use super::decide::{
    OwnedTarget, Plan, Recheck, attributes, decide_rpc, label_check, log, plan, principal_of,
    recheck_reads,
};
use super::future::{BoxedResponse, ResponseFuture};
use super::layer::PolicyShared;
use super::listing::{RestFilter, RpcFilter, collect, rebuilt, unfilterable};
use crate::context::ContextLabels;
use crate::error::{BodyOrEnvelope, BoxError, Dialect, Rejection};
use crate::facts::RequestFacts;
use crate::mcp::{Head, McpRequest, RequestBody, classify_body, classify_head};

/// The service built by [`PolicyLayer`](super::PolicyLayer).
#[derive(Debug, Clone)]
pub struct PolicyService<S> {
    inner: S,
    shared: Arc<PolicyShared>,
}

impl<S> PolicyService<S> {
    pub(crate) fn new(inner: S, shared: Arc<PolicyShared>) -> Self {
        Self { inner, shared }
    }

    /// The inner service made ready by `poll_ready`, leaving a clone in its place (tower's
    /// guidance for services that call later).
    fn take_inner(&mut self) -> S
    where
        S: Clone,
    {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }
}

impl<S, B, ResBody> Service<Request<B>> for PolicyService<S>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
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

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        if request.extensions().get::<McpRequest>().is_none() {
            let (method, uri, headers) = (request.method(), request.uri(), request.headers());
            match classify_head(&shared.endpoint, method, uri, headers) {
                Err(refusal) => return ResponseFuture::refused(refusal),
                Ok(Head::Done(classified)) => {
                    classified.keep(request.extensions_mut());
                }
                Ok(head) => {
                    let inner = self.take_inner();
                    let json_rpc = matches!(head, Head::JsonRpc);
                    let (parts, body) = request.into_parts();
                    let future: BoxedResponse<ResBody, S::Error> = Box::pin(async move {
                        match classify_body(&shared.endpoint, parts, body, json_rpc).await {
                            Ok(request) if json_rpc => {
                                json_rpc_exchange(shared, inner, request).await
                            }
                            Ok(request) => rest_listing(shared, inner, request, true).await,
                            Err(refusal) => Ok(refusal.map(BodyOrEnvelope::envelope)),
                        }
                    });
                    return ResponseFuture::boxed(future);
                }
            }
        }
        let Some(classified) = request.extensions().get::<McpRequest>() else {
            return ResponseFuture::refused(Rejection::internal().into_response(Dialect::Other));
        };
        match plan(classified, request.method(), request.uri().path()) {
            Plan::PassThrough => {
                let future = self.inner.call(request.map(RequestBody::streaming));
                ResponseFuture::inner(future, None, None)
            }
            Plan::Decide(action, target) => self.decide(request, action, target),
            Plan::Refuse(rejection) => {
                ResponseFuture::refused(rejection.into_response(classified.dialect))
            }
            Plan::RestListing { batch } => {
                let inner = self.take_inner();
                let request = request.map(RequestBody::streaming);
                ResponseFuture::boxed(Box::pin(rest_listing(shared, inner, request, batch)))
            }
            Plan::JsonRpc => {
                let inner = self.take_inner();
                let request = request.map(RequestBody::streaming);
                ResponseFuture::boxed(Box::pin(json_rpc_exchange(shared, inner, request)))
            }
        }
    }
}

impl<S> PolicyService<S> {
    /// One decision, known now: refuse, or forward (to check again once the source has
    /// labelled the context, when the policy uses labels).
    fn decide<B, ResBody>(
        &mut self,
        request: Request<B>,
        action: super::model::Action,
        target: OwnedTarget,
    ) -> ResponseFuture<S::Future, ResBody, S::Error>
    where
        S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
    {
        let shared = &self.shared;
        let principal = principal_of(request.extensions());
        let attributes = attributes(request.extensions(), request.method());
        let policy = shared.policy.load();
        let decision = tracing::debug_span!("authorize")
            .in_scope(|| policy.decide(principal, action, target.as_target(), &attributes));
        log(&decision, request.extensions().get::<RequestFacts>());
        if !decision.is_allowed() {
            let dialect = match target {
                OwnedTarget::Grpc(_) => Dialect::Grpc,
                _ => Dialect::Rest,
            };
            return ResponseFuture::refused(shared.refusal(&decision, principal, dialect, None));
        }
        let recheck =
            (policy.uses_labels() && matches!(target, OwnedTarget::Context(_))).then(|| {
                Box::new(Recheck {
                    shared: Arc::clone(shared),
                    principal: principal.clone(),
                    action,
                    target,
                    attributes,
                    facts: request.extensions().get::<RequestFacts>().cloned(),
                })
            });
        let future = self.inner.call(request.map(RequestBody::streaming));
        ResponseFuture::inner(future, Some(decision), recheck)
    }
}

/// REST list and batch: the endpoint answers, then every item the caller may not read is
/// removed (list) or replaced by a 403 entry (batch).
async fn rest_listing<S, B, ResBody>(
    shared: Arc<PolicyShared>,
    mut inner: S,
    request: Request<RequestBody<B>>,
    batch: bool,
) -> Result<Response<BodyOrEnvelope<ResBody>>, S::Error>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    let principal = principal_of(request.extensions()).clone();
    let attributes = attributes(request.extensions(), request.method());
    let response = inner.call(request).await?;
    if !response.status().is_success() {
        return Ok(response.map(BodyOrEnvelope::inner));
    }
    let (parts, body) = response.into_parts();
    let Some(bytes) = collect(body, shared.response_limit).await else {
        return Ok(unfilterable(Dialect::Rest));
    };
    let policy = shared.policy.load();
    let filter = RestFilter {
        policy: &policy,
        principal: &principal,
        attributes: &attributes,
        labels: parts.extensions.get::<ContextLabels>(),
    };
    let filtered = if batch {
        filter.batch(&bytes)
    } else {
        filter.listing(&bytes)
    };
    Ok(match filtered {
        Some(filtered) => rebuilt(parts, filtered),
        None => unfilterable(Dialect::Rest),
    })
}

/// JSON-RPC on the MCP endpoint: decide every targeted call, forward the buffered body with
/// its classification, check reads again against the labels the source gave, and filter the
/// list results of any inner server.
async fn json_rpc_exchange<S, B, ResBody>(
    shared: Arc<PolicyShared>,
    mut inner: S,
    mut request: Request<RequestBody<B>>,
) -> Result<Response<BodyOrEnvelope<ResBody>>, S::Error>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    let refused = |response: Response<_>| Ok(response.map(BodyOrEnvelope::envelope));
    let policy = shared.policy.load();
    let principal = principal_of(request.extensions()).clone();
    let base = attributes(request.extensions(), request.method());
    let Some(rpc) = request
        .extensions()
        .get::<McpRequest>()
        .and_then(McpRequest::rpc)
    else {
        return refused(Rejection::internal().into_response(Dialect::JsonRpc));
    };
    let mcp_path = shared.endpoint.mcp_path();
    let facts = request.extensions().get::<RequestFacts>().cloned();
    // Entered and left before anything is awaited (an entered span is not `Send`).
    let authorize = tracing::debug_span!("authorize").entered();
    let decided = decide_rpc(
        &shared,
        &policy,
        &principal,
        rpc,
        &base,
        mcp_path,
        facts.as_ref(),
    );
    drop(authorize);
    let checks = match decided {
        Ok(checks) => checks,
        Err(refusal) => return refused(refusal),
    };
    if policy.uses_labels() && !checks.reads.is_empty() {
        // An answer streamed before the source labels the context (a slow read answered
        // with progress notifications) is checked by the endpoint, with this, before it
        // shows any content.
        request.extensions_mut().insert(label_check(
            Arc::clone(&shared),
            principal.clone(),
            checks.reads.clone(),
            base.clone(),
            facts.clone(),
        ));
    }
    let mut response = inner.call(request).await?;
    let labels = response
        .extensions()
        .get::<ContextLabels>()
        .filter(|_| policy.uses_labels());
    if let Some(labels) = labels
        && let Some(refusal) = recheck_reads(
            &shared,
            &policy,
            &principal,
            &checks.reads,
            labels,
            &base,
            facts.as_ref(),
        )
    {
        return refused(refusal);
    }
    if let Some(decision) = checks.decision {
        response.extensions_mut().insert(decision);
    }
    if checks.listings.is_empty() || !response.status().is_success() {
        return Ok(response.map(BodyOrEnvelope::inner));
    }
    let (parts, body) = response.into_parts();
    let Some(bytes) = collect(body, shared.response_limit).await else {
        return Ok(unfilterable(Dialect::JsonRpc));
    };
    let filter = RpcFilter {
        shared: &shared,
        policy: &policy,
        principal: &principal,
        attributes: &base,
        labels: parts.extensions.get::<ContextLabels>(),
        listings: &checks.listings,
        call_ids: &checks.call_ids,
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(http::HeaderValue::as_bytes);
    Ok(match filter.answer(content_type, &bytes) {
        Some(filtered) => rebuilt(parts, filtered),
        None => unfilterable(Dialect::JsonRpc),
    })
}
