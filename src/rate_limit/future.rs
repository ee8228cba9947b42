//! [`ResponseFuture`]: the inner service's answer with the rate-limit fields added, or the
//! layer's own refusal, or an exchange that waited for the body or the store.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::headers::QuotaHeaders;
use super::reservation::Reservation;
use crate::error::{BodyOrEnvelope, FullBody};

/// An exchange of more than one step.
pub(crate) type BoxedResponse<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<BodyOrEnvelope<B>>, E>> + Send>>;

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
