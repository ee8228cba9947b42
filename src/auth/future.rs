use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Request, Response, header};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::authenticator::PendingAuth;
use super::layer::AuthShared;
use super::service::{admit, reject};
use crate::error::{BodyOrEnvelope, Dialect, FullBody};

pin_project! {
    /// The response future of [`Auth`](super::Auth).
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        Authenticating {
            pending: PendingAuth,
            inner: Option<S>,
            request: Option<Request<B>>,
            shared: Arc<AuthShared>,
            dialect: Dialect,
        },
        Calling { #[pin] future: S::Future, vary: HeaderValue },
        Answered { response: Option<Response<FullBody>> },
    }
}

impl<S: Service<Request<B>>, B> ResponseFuture<S, B> {
    /// The inner service's answer, marked as varying with the credential headers.
    pub(crate) fn calling(future: S::Future, vary: HeaderValue) -> Self {
        Self {
            state: State::Calling { future, vary },
        }
    }

    pub(crate) fn answered(response: Response<FullBody>) -> Self {
        Self {
            state: State::Answered {
                response: Some(response),
            },
        }
    }

    pub(crate) fn authenticating(
        pending: PendingAuth,
        inner: S,
        request: Request<B>,
        shared: Arc<AuthShared>,
        dialect: Dialect,
    ) -> Self {
        Self {
            state: State::Authenticating {
                pending,
                inner: Some(inner),
                request: Some(request),
                shared,
                dialect,
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Output = Result<Response<BodyOrEnvelope<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Calling { future, vary } => {
                    let mut response = ready!(future.poll(cx))?;
                    // What the inner service answered depends on who asked: a cache that
                    // keeps it must key on the credential too.
                    response.headers_mut().append(header::VARY, vary.clone());
                    return Poll::Ready(Ok(response.map(BodyOrEnvelope::inner)));
                }
                StateProj::Answered { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response.map(BodyOrEnvelope::envelope)));
                }
                StateProj::Authenticating {
                    pending,
                    inner,
                    request,
                    shared,
                    dialect,
                } => {
                    let outcome = ready!(pending.as_mut().poll(cx));
                    let (Some(mut inner), Some(mut request)) = (inner.take(), request.take())
                    else {
                        panic!("polled after completion");
                    };
                    let next = match outcome {
                        Ok(principal) => {
                            admit(shared, &mut request, principal);
                            State::Calling {
                                future: inner.call(request),
                                vary: shared.vary.clone(),
                            }
                        }
                        Err(err) => State::Answered {
                            response: Some(reject(shared, &err, *dialect)),
                        },
                    };
                    state.set(next);
                }
            }
        }
    }
}
