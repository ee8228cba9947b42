//! [`AddressLimitService`]: before authentication, by client address: refuse an address
//! that failed authentication too often (without checking its credentials again), charge
//! the per-address quota, and count the failures the answer reports.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::{FailedAuthCharge, ResponseFuture};
use super::layer::RateLimitShared;
use super::limits::{address_key, caller};
use super::outcome::{Outcome, ReplyTo, outcome};
use super::store::{PendingVerdict, StoreAnswer, Verdict};
use crate::error::BodyOrEnvelope;

/// The service built by [`AddressLimitLayer`](super::AddressLimitLayer).
#[derive(Debug, Clone)]
pub struct AddressLimitService<S> {
    inner: S,
    shared: Arc<RateLimitShared>,
}

impl<S> AddressLimitService<S> {
    pub(crate) fn new(inner: S, shared: Arc<RateLimitShared>) -> Self {
        Self { inner, shared }
    }
}

impl<S, B, ResBody> Service<Request<B>> for AddressLimitService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<BodyOrEnvelope<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        let limits = &shared.limits;
        if limits.per_address().is_none() && limits.failed_auth().is_none() {
            return ResponseFuture::inner(self.inner.call(request), None, None);
        }
        let key = address_key(caller(request.extensions()).1);
        let dialect = shared
            .endpoint
            .dialect_detector()
            .detect(request.uri(), request.headers());
        let reply = ReplyTo::dialect(dialect);
        let mut gate = Gate {
            key,
            reply,
            peeked: None,
            charged: None,
        };
        if let Some(failed) = limits.failed_auth() {
            match limits.store.peek(failed, &gate.key) {
                StoreAnswer::Ready(Ok(verdict @ Verdict::Limited { .. })) => {
                    if let Outcome::Refuse(response) =
                        outcome(limits, failed, 1, Ok(verdict), &gate.reply)
                    {
                        return ResponseFuture::refused(response);
                    }
                }
                StoreAnswer::Ready(_) => {}
                StoreAnswer::Pending(pending) => gate.peeked = Some(pending),
            }
        }
        let mut headers = None;
        if gate.peeked.is_none()
            && let Some(quota) = limits.per_address()
        {
            match limits.store.charge(quota, &gate.key, 1) {
                StoreAnswer::Ready(verdict) => {
                    match outcome(limits, quota, 1, verdict, &gate.reply) {
                        Outcome::Pass(pass) => headers = pass,
                        Outcome::Refuse(response) => return ResponseFuture::refused(response),
                    }
                }
                StoreAnswer::Pending(pending) => gate.charged = Some(pending),
            }
        }
        if gate.peeked.is_some() || gate.charged.is_some() {
            let clone = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, clone);
            return ResponseFuture::boxed(Box::pin(gate.exchange(shared, inner, request)));
        }
        let failed_auth = limits.failed_auth().map(|_| FailedAuthCharge {
            limits: limits.clone(),
            key: gate.key,
        });
        ResponseFuture::inner(self.inner.call(request), headers, failed_auth)
    }
}

/// The checks of a request whose store answers later.
struct Gate {
    key: String,
    reply: ReplyTo,
    /// The failed-authentication check, asked and not yet answered.
    peeked: Option<PendingVerdict>,
    /// The per-address charge, asked and not yet answered.
    charged: Option<PendingVerdict>,
}

impl Gate {
    async fn exchange<S, B, ResBody>(
        self,
        shared: Arc<RateLimitShared>,
        mut inner: S,
        request: Request<B>,
    ) -> Result<Response<BodyOrEnvelope<ResBody>>, S::Error>
    where
        S: Service<Request<B>, Response = Response<ResBody>>,
    {
        let limits = &shared.limits;
        let refused = |response: Response<_>| Ok(response.map(BodyOrEnvelope::envelope));
        if let (Some(pending), Some(failed)) = (self.peeked, limits.failed_auth()) {
            let verdict = pending.await;
            if let Ok(Verdict::Limited { .. }) = verdict
                && let Outcome::Refuse(response) = outcome(limits, failed, 1, verdict, &self.reply)
            {
                return refused(response);
            }
        }
        let mut headers = None;
        if let Some(quota) = limits.per_address() {
            let verdict = match self.charged {
                Some(pending) => pending.await,
                None => match limits.store.charge(quota, &self.key, 1) {
                    StoreAnswer::Ready(verdict) => verdict,
                    StoreAnswer::Pending(pending) => pending.await,
                },
            };
            match outcome(limits, quota, 1, verdict, &self.reply) {
                Outcome::Pass(pass) => headers = pass,
                Outcome::Refuse(response) => return refused(response),
            }
        }
        let mut response = inner.call(request).await?;
        if limits.failed_auth().is_some() {
            let charge = FailedAuthCharge {
                limits: limits.clone(),
                key: self.key,
            };
            charge.settle(&response);
        }
        if let Some(headers) = headers {
            headers.append_to(response.headers_mut());
        }
        Ok(response.map(BodyOrEnvelope::inner))
    }
}
