//! [`RateLimitService`]: after authentication, charge the principal (an anonymous caller, its
//! address) what the classified request costs, before anything runs.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::future::{BoxedResponse, ResponseFuture};
use super::headers::QuotaHeaders;
use super::layer::RateLimitShared;
use super::limits::{Charge, caller};
use super::outcome::{Outcome, ReplyTo, outcome};
use super::reservation::Reservation;
use super::store::{StoreAnswer, Verdict};
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
        // Past authentication: the failed-authentication unit held for this request goes
        // back now, not when the answer is done.
        if let Some(reservation) = request.extensions().get::<Reservation>() {
            reservation.release();
        }
        let shared = Arc::clone(&self.shared);
        let (principal, addr) = caller(request.extensions());
        let Charge::To { quota, key } = shared.limits.charge_of(principal, addr) else {
            let future = self.inner.call(request.map(RequestBody::streaming));
            return ResponseFuture::inner(future, None, None);
        };
        let bill = Bill {
            quota: quota.index,
            key,
        };
        if request.extensions().get::<McpRequest>().is_none() {
            let (method, uri, headers) = (request.method(), request.uri(), request.headers());
            let dialect = shared.endpoint.dialect_detector().detect(uri, headers);
            match classify_head(&shared.endpoint, method, uri, headers) {
                Err(refusal) => {
                    let answer = bill.charge(&shared, 1);
                    return ResponseFuture::refused(
                        bill.refusal(&shared, dialect, answer, refusal),
                    );
                }
                Ok(Head::Done(classified)) => {
                    classified.keep(request.extensions_mut());
                }
                Ok(head) => {
                    // The cost is in the body. One unit is spent before it is read, so a
                    // caller cannot hold more requests open than its quota allows; the rest
                    // once it is classified.
                    let first = bill.charge(&shared, 1);
                    if let StoreAnswer::Ready(verdict) = &first
                        && let Outcome::Refuse(response) =
                            bill.outcome(&shared, 1, verdict.clone(), &ReplyTo::dialect(dialect))
                    {
                        return ResponseFuture::refused(response);
                    }
                    let inner = self.take_inner();
                    let (parts, body) = request.into_parts();
                    let json_rpc = matches!(head, Head::JsonRpc);
                    let exchange = bill.after_body(shared, inner, parts, body, json_rpc, first);
                    return ResponseFuture::boxed(Box::pin(exchange));
                }
            }
        }
        let Some(classified) = request.extensions().get::<McpRequest>() else {
            return ResponseFuture::refused(Rejection::internal().into_response(Dialect::Other));
        };
        let cost = shared.limits.cost(classified);
        let reply = ReplyTo::request(classified);
        match bill.charge(&shared, cost) {
            StoreAnswer::Ready(verdict) => match bill.outcome(&shared, cost, verdict, &reply) {
                Outcome::Pass(headers) => {
                    let future = self.inner.call(request.map(RequestBody::streaming));
                    ResponseFuture::inner(future, headers, None)
                }
                Outcome::Refuse(response) => ResponseFuture::refused(response),
            },
            pending @ StoreAnswer::Pending(_) => {
                let inner = self.take_inner();
                let request = request.map(RequestBody::streaming);
                let exchange = async move {
                    let verdict = pending.resolve().await;
                    let headers = match bill.outcome(&shared, cost, verdict, &reply) {
                        Outcome::Pass(headers) => headers,
                        Outcome::Refuse(response) => {
                            return Ok(response.map(BodyOrEnvelope::envelope));
                        }
                    };
                    forward(inner, request, headers).await
                };
                let exchange: BoxedResponse<ResBody, S::Error> = Box::pin(exchange);
                ResponseFuture::boxed(exchange)
            }
        }
    }
}

/// Whose bucket, under which quota.
struct Bill {
    quota: usize,
    key: String,
}

impl Bill {
    fn charge(&self, shared: &RateLimitShared, cost: u32) -> StoreAnswer {
        let limits = &shared.limits;
        limits
            .store
            .charge(&limits.compiled.quotas[self.quota], &self.key, cost)
    }

    fn outcome(
        &self,
        shared: &RateLimitShared,
        cost: u32,
        verdict: Result<super::store::Verdict, super::store::StoreError>,
        reply: &ReplyTo,
    ) -> Outcome {
        let limits = &shared.limits;
        outcome(
            limits,
            &limits.compiled.quotas[self.quota],
            cost,
            verdict,
            reply,
        )
    }

    /// Gives back the unit spent before the body; `refused` as it reads with that unit back.
    async fn unit_back(
        &self,
        shared: &RateLimitShared,
        refused: Verdict,
    ) -> Result<Verdict, super::store::StoreError> {
        let limits = &shared.limits;
        let quota = &limits.compiled.quotas[self.quota];
        limits.store.refund(quota, &self.key, 1).resolve().await?;
        let unit = quota.unit_interval();
        let back = |remaining: u32, reset: std::time::Duration| {
            (
                (remaining + 1).min(quota.burst()),
                reset.saturating_sub(unit),
            )
        };
        Ok(match refused {
            Verdict::Limited {
                retry_after,
                remaining,
                reset,
            } => {
                let (remaining, reset) = back(remaining, reset);
                Verdict::Limited {
                    retry_after,
                    remaining,
                    reset,
                }
            }
            Verdict::TooCostly { remaining, reset } => {
                let (remaining, reset) = back(remaining, reset);
                Verdict::TooCostly { remaining, reset }
            }
            allowed => allowed,
        })
    }

    /// A malformed request pays one unit like a read, so a flood of them is limited too:
    /// 429 once the quota is spent, else the refusal with the rate-limit fields.
    fn refusal(
        &self,
        shared: &RateLimitShared,
        dialect: Dialect,
        answer: StoreAnswer,
        mut refusal: Response<FullBody>,
    ) -> Response<FullBody> {
        let verdict = match answer {
            StoreAnswer::Ready(verdict) => verdict,
            StoreAnswer::Pending(charge) => {
                // Not worth waiting for: the request is refused anyway.
                tokio::spawn(charge);
                return refusal;
            }
        };
        match self.outcome(shared, 1, verdict, &ReplyTo::dialect(dialect)) {
            Outcome::Pass(headers) => {
                if let Some(headers) = headers {
                    headers.append_to(refusal.headers_mut());
                }
                refusal
            }
            Outcome::Refuse(limited) => limited,
        }
    }

    /// The body is read and classified; the unit spent before covers a refusal, the rest of
    /// the cost is charged before anything runs.
    async fn after_body<S, B, ResBody>(
        self,
        shared: Arc<RateLimitShared>,
        inner: S,
        parts: Parts,
        body: B,
        json_rpc: bool,
        first: StoreAnswer,
    ) -> Result<Response<BodyOrEnvelope<ResBody>>, S::Error>
    where
        S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let envelope = |response: Response<FullBody>| Ok(response.map(BodyOrEnvelope::envelope));
        let dialect = if json_rpc {
            Dialect::JsonRpc
        } else {
            Dialect::Rest
        };
        let first = match self.outcome(
            &shared,
            1,
            first.resolve().await,
            &ReplyTo::dialect(dialect),
        ) {
            Outcome::Pass(headers) => headers,
            Outcome::Refuse(response) => return envelope(response),
        };
        let request = match classify_body(&shared.endpoint, parts, body, json_rpc).await {
            Ok(request) => request,
            Err(mut refusal) => {
                if let Some(headers) = first {
                    headers.append_to(refusal.headers_mut());
                }
                return envelope(refusal);
            }
        };
        let Some(classified) = request.extensions().get::<McpRequest>() else {
            return envelope(Rejection::internal().into_response(Dialect::Other));
        };
        let cost = shared.limits.cost(classified);
        let reply = ReplyTo::request(classified);
        let burst = shared.limits.compiled.quotas[self.quota].burst();
        let headers = if cost <= 1 {
            first
        } else {
            // More than the burst is refused whole; otherwise the rest of the cost.
            let rest = if cost > burst { cost } else { cost - 1 };
            let mut verdict = self.charge(&shared, rest).resolve().await;
            if let Ok(refused @ (Verdict::Limited { .. } | Verdict::TooCostly { .. })) = verdict {
                // Refused once read: the unit spent before the body goes back (nothing is
                // held open any more), so `Retry-After` is the wait for the whole cost and
                // a client that obeys it gets through.
                verdict = self.unit_back(&shared, refused).await;
            }
            match self.outcome(&shared, cost, verdict, &reply) {
                Outcome::Pass(headers) => headers,
                Outcome::Refuse(response) => return envelope(response),
            }
        };
        forward(inner, request, headers).await
    }
}

/// Forwards a charged request and adds the rate-limit fields to its answer.
async fn forward<S, B, ResBody>(
    mut inner: S,
    request: Request<RequestBody<B>>,
    headers: Option<QuotaHeaders>,
) -> Result<Response<BodyOrEnvelope<ResBody>>, S::Error>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
{
    let mut response = inner.call(request).await?;
    if let Some(headers) = headers {
        headers.append_to(response.headers_mut());
    }
    Ok(response.map(BodyOrEnvelope::inner))
}
