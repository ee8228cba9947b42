//! [`OverloadService`]: a slot or 503 at once; an answer before the deadline or 504.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use super::layer::OverloadShared;
use crate::context::Deadline;
use crate::error::{BodyOrEnvelope, Dialect, ErrorCode, FullBody, Rejection};
use crate::facts::Shed;

/// The service built by [`OverloadLayer`](super::OverloadLayer).
#[derive(Debug, Clone)]
pub struct OverloadService<S> {
    inner: S,
    shared: Arc<OverloadShared>,
}

impl<S> OverloadService<S> {
    pub(crate) fn new(inner: S, shared: Arc<OverloadShared>) -> Self {
        Self { inner, shared }
    }
}

pin_project! {
    /// The response future of [`OverloadService`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running {
            #[pin] future: F,
            #[pin] deadline: Sleep,
            dialect: Dialect,
            slot: OwnedSemaphorePermit,
        },
        Refused { response: Option<Response<FullBody>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<BodyOrEnvelope<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running {
                future,
                deadline,
                dialect,
                slot: _,
            } => {
                if let Poll::Ready(answer) = future.poll(cx) {
                    return Poll::Ready(answer.map(|response| response.map(BodyOrEnvelope::inner)));
                }
                ready!(deadline.poll(cx));
                tracing::warn!("a request passed its deadline");
                let timeout = Rejection::new(ErrorCode::Timeout, "the request took too long");
                Poll::Ready(Ok(timeout
                    .into_response(*dialect)
                    .map(BodyOrEnvelope::envelope)))
            }
            StateProj::Refused { response } => {
                let response = response.take().expect("polled after completion");
                Poll::Ready(Ok(response.map(BodyOrEnvelope::envelope)))
            }
        }
    }
}

impl<S, B, ResBody> Service<Request<B>> for OverloadService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<BodyOrEnvelope<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the inner service's; the limit answers in `call`, never by waiting.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let dialect = self
            .shared
            .detector
            .detect(request.uri(), request.headers());
        let Ok(slot) = Arc::clone(&self.shared.slots).try_acquire_owned() else {
            let busy = Rejection::new(ErrorCode::Unavailable, "the server is busy; retry shortly")
                .with_retry_after(Duration::from_secs(1));
            let mut response = busy.into_response(dialect);
            response.extensions_mut().insert(Shed);
            return ResponseFuture {
                state: State::Refused {
                    response: Some(response),
                },
            };
        };
        let due = Instant::now() + self.shared.timeout;
        request.extensions_mut().insert(Deadline(due));
        ResponseFuture {
            state: State::Running {
                future: self.inner.call(request),
                deadline: tokio::time::sleep_until(due),
                dialect,
                slot,
            },
        }
    }
}
