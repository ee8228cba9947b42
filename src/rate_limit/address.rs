//! [`AddressLimitService`]: before authentication, by client address: charge the
//! per-address quota, and hold a failed-authentication unit while the request is
//! authenticated (an address whose failures used up that quota is refused before its
//! credentials are checked; guesses in flight count too).

// A refusal is a response, returned by value where it is made (as in `mcp::classify`).
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::headers::QuotaHeaders;
use super::layer::RateLimitShared;
use super::limits::caller;
use super::outcome::{Outcome, ReplyTo, outcome};
use super::reservation::Reservation;
use super::store::{StoreAnswer, StoreError, Verdict};
use crate::error::{BodyOrEnvelope, FullBody};

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

/// What the checks of one request decided so far.
struct Admission {
    key: String,
    reply: ReplyTo,
    headers: Option<QuotaHeaders>,
}

impl Admission {
    /// The per-address charge: pass (with its fields) or the refusal.
    fn per_address(
        &mut self,
        shared: &RateLimitShared,
        verdict: Result<Verdict, StoreError>,
    ) -> Result<(), Response<FullBody>> {
        let Some(quota) = shared.limits.per_address() else {
            return Ok(());
        };
        match outcome(&shared.limits, quota, 1, verdict, &self.reply) {
            Outcome::Pass(headers) => {
                self.headers = headers;
                Ok(())
            }
            Outcome::Refuse(response) => Err(response),
        }
    }

    /// The failed-authentication unit: held (a reservation), not needed (the store failed
    /// and failures are allowed through), or the refusal.
    fn reserve(
        &self,
        shared: &RateLimitShared,
        verdict: Result<Verdict, StoreError>,
    ) -> Result<Option<Reservation>, Response<FullBody>> {
        let Some(quota) = shared.limits.failed_auth() else {
            return Ok(None);
        };
        let held = matches!(verdict, Ok(Verdict::Allowed { .. }));
        match outcome(&shared.limits, quota, 1, verdict, &self.reply) {
            Outcome::Pass(_) if held => Ok(Some(Reservation::new(
                shared.limits.clone(),
                Arc::clone(&shared.in_flight),
                self.key.clone(),
            ))),
            Outcome::Pass(_) => Ok(None),
            Outcome::Refuse(response) => Err(response),
        }
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

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        let limits = &shared.limits;
        if limits.per_address().is_none() && limits.failed_auth().is_none() {
            return ResponseFuture::inner(self.inner.call(request), None, None);
        }
        let Some(key) = limits.address_key(caller(request.extensions()).1) else {
            // Without addresses every caller would share one bucket, and one attacker
            // would lock everybody out: better no limit, said loudly once.
            if !shared.warned_no_address.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "requests carry no client address: per-address and failed-authentication limits are off (serve with mcp_bastion::server, or axum with connect info)"
                );
            }
            return ResponseFuture::inner(self.inner.call(request), None, None);
        };
        let dialect = shared
            .endpoint
            .dialect_detector()
            .detect(request.uri(), request.headers());
        let mut admission = Admission {
            key,
            reply: ReplyTo::dialect(dialect),
            headers: None,
        };
        let mut later = Later::default();
        if let Some(quota) = limits.per_address() {
            match limits.store.charge(quota, &admission.key, 1) {
                StoreAnswer::Ready(verdict) => {
                    if let Err(refusal) = admission.per_address(&shared, verdict) {
                        return ResponseFuture::refused(refusal);
                    }
                }
                pending @ StoreAnswer::Pending(_) => later.per_address = Some(pending),
            }
        }
        let mut reservation = None;
        if later.per_address.is_none()
            && let Some(quota) = limits.failed_auth()
        {
            match limits.store.charge(quota, &admission.key, 1) {
                // Refused while others of this address are being authenticated: wait for
                // them (in the exchange) rather than refuse a request that may be valid.
                StoreAnswer::Ready(verdict @ Ok(Verdict::Limited { .. }))
                    if shared.in_flight.is_held(&admission.key) =>
                {
                    later.failed_auth = Some(StoreAnswer::Ready(verdict));
                }
                StoreAnswer::Ready(verdict) => match admission.reserve(&shared, verdict) {
                    Ok(held) => reservation = held,
                    Err(refusal) => return ResponseFuture::refused(refusal),
                },
                pending @ StoreAnswer::Pending(_) => later.failed_auth = Some(pending),
            }
        }
        if later.per_address.is_some() || later.failed_auth.is_some() {
            let clone = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, clone);
            let exchange = later.exchange(shared, admission, inner, request);
            return ResponseFuture::boxed(Box::pin(exchange));
        }
        if let Some(reservation) = &reservation {
            request.extensions_mut().insert(reservation.clone());
        }
        ResponseFuture::inner(self.inner.call(request), admission.headers, reservation)
    }
}

/// The checks a store answers later.
#[derive(Default)]
struct Later {
    per_address: Option<StoreAnswer>,
    failed_auth: Option<StoreAnswer>,
}

impl Later {
    async fn exchange<S, B, ResBody>(
        self,
        shared: Arc<RateLimitShared>,
        mut admission: Admission,
        mut inner: S,
        mut request: Request<B>,
    ) -> Result<Response<BodyOrEnvelope<ResBody>>, S::Error>
    where
        S: Service<Request<B>, Response = Response<ResBody>>,
    {
        let limits = &shared.limits;
        let refused = |response: Response<FullBody>| Ok(response.map(BodyOrEnvelope::envelope));
        if let Some(answer) = self.per_address
            && let Err(refusal) = admission.per_address(&shared, answer.resolve().await)
        {
            return refused(refusal);
        }
        let mut reservation = None;
        if let Some(quota) = limits.failed_auth() {
            let answer = self
                .failed_auth
                .unwrap_or_else(|| limits.store.charge(quota, &admission.key, 1));
            let verdict = answer.resolve().await;
            let verdict = shared
                .in_flight
                .settled(limits, quota, &admission.key, verdict)
                .await;
            match admission.reserve(&shared, verdict) {
                Ok(held) => reservation = held,
                Err(refusal) => return refused(refusal),
            }
        }
        if let Some(reservation) = &reservation {
            request.extensions_mut().insert(reservation.clone());
        }
        let mut response = inner.call(request).await?;
        if let Some(reservation) = reservation {
            reservation.settle(&response);
        }
        if let Some(headers) = admission.headers {
            headers.append_to(response.headers_mut());
        }
        Ok(response.map(BodyOrEnvelope::inner))
    }
}
