//! [`RateLimitService`]: after authentication, charge the principal (an anonymous caller, its
//! address) what the classified request costs, before anything runs.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::future::{BoxedResponse, ResponseFuture};
use super::layer::RateLimitShared;
use super::limits::{Charge, caller};
use super::outcome::{Outcome, ReplyTo, outcome};
use super::store::{PendingVerdict, StoreAnswer, Verdict};
use crate::error::{BodyOrEnvelope, BoxError, Dialect, FullBody, Rejection};
use crate::mcp::{Head, McpRequest, RequestBody, classify_body, classify_head};

/// The service built by [`RateLimitLayer`](super::RateLimitLayer).
#[derive(Debug, Clone)]
pub struct RateLimitService<S> {
    inner: S,
    shared: Arc<RateLimitShared>,
}

impl<S> RateLimitService<S> {
    pub(crate) fn new(inner: S, shared: Arc<RateLimitShared>) -> Self {
        Self { inner, shared }
    }

    /// The inner service made ready by `poll_ready`, leaving a clone in its place.
    fn take_inner(&mut self) -> S
    where
        S: Clone,
    {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }
}

impl<S, B, ResBody> Service<Request<B>> for RateLimitService<S>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    ResBody: Send + 'static,
{
    type Response = Response<BodyOrEnvelope<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // A refusal is an answer, never a wait: readiness is the inner service's.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        let (principal, addr) = caller(request.extensions());
        let Charge::To { quota, key } = shared.limits.charge_of(principal, addr) else {
            let future = self.inner.call(request.map(RequestBody::streaming));
            return ResponseFuture::inner(future, None, None);
        };
        let quota = quota.index;
        if request.extensions().get::<McpRequest>().is_none() {
            let (method, uri, headers) = (request.method(), request.uri(), request.headers());
            let dialect = shared.endpoint.dialect_detector().detect(uri, headers);
            match classify_head(&shared.endpoint, method, uri, headers) {
                Err(refusal) => {
                    let refusal = charged_refusal(&shared, quota, &key, dialect, refusal);
                    return ResponseFuture::refused(refusal);
                }
                Ok(Head::Done(classified)) => {
                    request.extensions_mut().insert(classified);
                }
                Ok(head) => {
                    // The cost is in the body: read it (once, within the endpoint's limit),
                    // then charge, then forward the buffered body with its classification.
                    // A caller with nothing left is refused before its body is read.
                    let quota_ref = &shared.limits.compiled.quotas[quota];
                    if let StoreAnswer::Ready(Ok(verdict @ Verdict::Limited { .. })) =
                        shared.limits.store.peek(quota_ref, &key)
                    {
                        let reply = ReplyTo::dialect(dialect);
                        if let Outcome::Refuse(response) =
                            outcome(&shared.limits, quota_ref, 1, Ok(verdict), &reply)
                        {
                            return ResponseFuture::refused(response);
                        }
                    }
                    let inner = self.take_inner();
                    let json_rpc = matches!(head, Head::JsonRpc);
                    let (parts, body) = request.into_parts();
                    let future: BoxedResponse<ResBody, S::Error> = Box::pin(async move {
                        match classify_body(&shared.endpoint, parts, body, json_rpc).await {
                            Ok(request) => {
                                let charge = Charging {
                                    quota,
                                    key,
                                    pending: None,
                                };
                                charged_call(shared, inner, request, charge).await
                            }
                            Err(refusal) => {
                                let refusal =
                                    charged_refusal(&shared, quota, &key, dialect, refusal);
                                Ok(refusal.map(BodyOrEnvelope::envelope))
                            }
                        }
                    });
                    return ResponseFuture::boxed(future);
                }
            }
        }
        let Some(classified) = request.extensions().get::<McpRequest>() else {
            return ResponseFuture::refused(Rejection::internal().into_response(Dialect::Other));
        };
        let quota_ref = &shared.limits.compiled.quotas[quota];
        let cost = shared.limits.cost(classified);
        match shared.limits.store.charge(quota_ref, &key, cost) {
            StoreAnswer::Ready(verdict) => {
                let reply = ReplyTo::request(classified);
                match outcome(&shared.limits, quota_ref, cost, verdict, &reply) {
                    Outcome::Pass(headers) => {
                        let future = self.inner.call(request.map(RequestBody::streaming));
                        ResponseFuture::inner(future, headers, None)
                    }
                    Outcome::Refuse(response) => ResponseFuture::refused(response),
                }
            }
            StoreAnswer::Pending(verdict) => {
                let inner = self.take_inner();
                let request = request.map(RequestBody::streaming);
                let charge = Charging {
                    quota,
                    key,
                    pending: Some(verdict),
                };
                ResponseFuture::boxed(Box::pin(charged_call(shared, inner, request, charge)))
            }
        }
    }
}

/// A malformed request is charged like a read, so a flood of them is limited too: the
/// caller gets 429 once its quota is spent, else the refusal (with the rate-limit fields).
fn charged_refusal(
    shared: &RateLimitShared,
    quota: usize,
    key: &str,
    dialect: Dialect,
    mut refusal: Response<FullBody>,
) -> Response<FullBody> {
    let limits = &shared.limits;
    let quota = &limits.compiled.quotas[quota];
    let cost = limits.compiled.costs.read;
    let verdict = match limits.store.charge(quota, key, cost) {
        StoreAnswer::Ready(verdict) => verdict,
        StoreAnswer::Pending(charge) => {
            // Not worth waiting for: the request is refused anyway.
            tokio::spawn(charge);
            return refusal;
        }
    };
    match outcome(limits, quota, cost, verdict, &ReplyTo::dialect(dialect)) {
        Outcome::Pass(headers) => {
            if let Some(headers) = headers {
                headers.append_to(refusal.headers_mut());
            }
            refusal
        }
        Outcome::Refuse(limited) => limited,
    }
}

/// A charge to make, or already asked of a store that answers later.
struct Charging {
    quota: usize,
    key: String,
    pending: Option<PendingVerdict>,
}

/// Charges a classified request (waiting for the store if it must), then forwards it.
async fn charged_call<S, B, ResBody>(
    shared: Arc<RateLimitShared>,
    mut inner: S,
    request: Request<RequestBody<B>>,
    charge: Charging,
) -> Result<Response<BodyOrEnvelope<ResBody>>, S::Error>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
{
    let Some(classified) = request.extensions().get::<McpRequest>() else {
        return Ok(Rejection::internal()
            .into_response(Dialect::Other)
            .map(BodyOrEnvelope::envelope));
    };
    let limits = &shared.limits;
    let quota = &limits.compiled.quotas[charge.quota];
    let cost = limits.cost(classified);
    let reply = ReplyTo::request(classified);
    let answer = match charge.pending {
        Some(pending) => StoreAnswer::Pending(pending),
        None => limits.store.charge(quota, &charge.key, cost),
    };
    let verdict = match answer {
        StoreAnswer::Ready(verdict) => verdict,
        StoreAnswer::Pending(verdict) => verdict.await,
    };
    match outcome(limits, quota, cost, verdict, &reply) {
        Outcome::Pass(headers) => {
            let mut response = inner.call(request).await?;
            if let Some(headers) = headers {
                headers.append_to(response.headers_mut());
            }
            Ok(response.map(BodyOrEnvelope::inner))
        }
        Outcome::Refuse(response) => Ok(response.map(BodyOrEnvelope::envelope)),
    }
}
