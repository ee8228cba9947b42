//! [`ResponseFuture`]: the inner service's answer, checked once more when it says how
//! sensitive the context is; or the layer's own refusal; or a filtering exchange.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::decide::Recheck;
use super::model::Decision;
use crate::context::ContextLabels;
use crate::error::{BodyOrEnvelope, FullBody};

/// An exchange that reads the body or filters the answer.
pub(crate) type BoxedResponse<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<BodyOrEnvelope<B>>, E>> + Send>>;

pin_project! {
    /// The response future of [`PolicyService`](super::PolicyService).
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Inner { #[pin] future: F, decision: Option<Decision>, recheck: Option<Box<Recheck>> },
        Refused { response: Option<Response<FullBody>> },
        Boxed { future: BoxedResponse<B, E> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    /// The inner service's answer, with the decision that let it through.
    pub(crate) fn inner(
        future: F,
        decision: Option<Decision>,
        recheck: Option<Box<Recheck>>,
    ) -> Self {
        Self {
            state: State::Inner {
                future,
                decision,
                recheck,
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

    /// An exchange that needs more than one step.
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
