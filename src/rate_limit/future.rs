//! [`ResponseFuture`]: the inner service's answer with the rate-limit fields added, or the
//! layer's own refusal, or an exchange that waited for the body or the store.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use http::{Response, StatusCode, header};
use pin_project_lite::pin_project;

use super::headers::QuotaHeaders;
use super::limits::RateLimits;
use super::store::StoreAnswer;
use crate::error::{BodyOrEnvelope, FullBody};

/// An exchange of more than one step.
pub(crate) type BoxedResponse<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<BodyOrEnvelope<B>>, E>> + Send>>;

/// A failed-authentication unit held for a request while it is authenticated (so guesses
/// in flight count before their answers): given back as soon as the request gets past
/// authentication, or when its answer is anything but a refused credential.
#[derive(Debug, Clone)]
pub(crate) struct Reservation(Arc<Held>);

#[derive(Debug)]
struct Held {
    limits: RateLimits,
    key: String,
    settled: AtomicBool,
}

impl Reservation {
    pub(crate) fn new(limits: RateLimits, key: String) -> Self {
        Self(Arc::new(Held {
            limits,
            key,
            settled: AtomicBool::new(false),
        }))
    }

    /// The request is past authentication: the unit goes back (once).
    pub(crate) fn release(&self) {
        let held = &*self.0;
        if held.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(quota) = held.limits.failed_auth() else {
            return;
        };
        match held.limits.store.refund(quota, &held.key, 1) {
            StoreAnswer::Ready(Ok(())) => {}
            StoreAnswer::Ready(Err(err)) => {
                tracing::warn!(error = %err, "failed-authentication unit not given back");
            }
            StoreAnswer::Pending(refund) => {
                tokio::spawn(async move {
                    if let Err(err) = refund.await {
                        tracing::warn!(error = %err, "failed-authentication unit not given back");
                    }
                });
            }
        }
    }

    /// The answer is in: a refused credential (RFC 6750 `error="invalid_token"`) keeps the
    /// unit spent; anything else gives it back. A request without credentials is not a
    /// failure.
    pub(crate) fn settle<B>(&self, response: &Response<B>) {
        let refused_credential = response.status() == StatusCode::UNAUTHORIZED
            && response
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .any(|value| value.as_bytes().windows(13).any(|w| w == b"invalid_token"));
        if refused_credential {
            self.0.settled.store(true, Ordering::Release);
        } else {
            self.release();
        }
    }
}

pin_project! {
    /// The response future of the rate-limit services.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Inner {
            #[pin] future: F,
            headers: Option<QuotaHeaders>,
            reservation: Option<Reservation>,
        },
        Refused { response: Option<Response<FullBody>> },
        Boxed { future: BoxedResponse<B, E> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    /// The inner service's answer, with `headers` added.
    pub(crate) fn inner(
        future: F,
        headers: Option<QuotaHeaders>,
        reservation: Option<Reservation>,
    ) -> Self {
        Self {
            state: State::Inner {
                future,
                headers,
                reservation,
            },
        }
    }

    /// The layer's own answer.
    pub(crate) fn refused(response: Response<FullBody>) -> Self {
        Self {
            state: State::Refused {
                response: Some(response),
            },
        }
    }

    /// An exchange of more than one step.
    pub(crate) fn boxed(future: BoxedResponse<B, E>) -> Self {
        Self {
            state: State::Boxed { future },
        }
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
                headers,
                reservation,
            } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(reservation) = reservation.take() {
                    reservation.settle(&response);
                }
                if let Some(headers) = headers.take() {
                    headers.append_to(response.headers_mut());
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
