//! [`ResponseFuture`]: the inner service's answer with the rate-limit fields added, or the
//! layer's own refusal, or an exchange that waited for the body or the store.

use std::future::Future;
use std::pin::Pin;
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

/// A failed authentication to charge to a client address once the answer says so.
#[derive(Debug)]
pub(crate) struct FailedAuthCharge {
    pub(crate) limits: RateLimits,
    pub(crate) key: String,
}

impl FailedAuthCharge {
    /// Charges one unit when `response` refused a credential that was presented (RFC 6750:
    /// `error="invalid_token"`; a request without credentials is not a failure).
    pub(crate) fn settle<B>(self, response: &Response<B>) {
        let refused_credential = response.status() == StatusCode::UNAUTHORIZED
            && response
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .any(|value| value.as_bytes().windows(13).any(|w| w == b"invalid_token"));
        let Some(quota) = self.limits.failed_auth().filter(|_| refused_credential) else {
            return;
        };
        match self.limits.store.charge(quota, &self.key, 1) {
            StoreAnswer::Ready(_) => {}
            StoreAnswer::Pending(charge) => {
                tokio::spawn(charge);
            }
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
            failed_auth: Option<FailedAuthCharge>,
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
        failed_auth: Option<FailedAuthCharge>,
    ) -> Self {
        Self {
            state: State::Inner {
                future,
                headers,
                failed_auth,
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
                failed_auth,
            } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(charge) = failed_auth.take() {
                    charge.settle(&response);
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
