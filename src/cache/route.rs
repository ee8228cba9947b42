//! [`WebhookRoute`]: the invalidation webhook in front of everything else, at one path.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::webhook::{InvalidationWebhook, WebhookFuture};
use crate::error::{BodyOrEnvelope, BoxError};

/// Path of the invalidation webhook in the [`Stack`](crate::stack::Stack).
pub const DEFAULT_WEBHOOK_PATH: &str = "/cache/invalidate";

/// Answers `POST /cache/invalidate` with the webhook (which authenticates by signature, so
/// it sits outside the authentication layer) and everything else with `inner`.
#[derive(Debug, Clone)]
pub struct WebhookRoute<S> {
    inner: S,
    webhook: Option<InvalidationWebhook>,
}

impl<S> WebhookRoute<S> {
    /// `inner`, with `webhook` (when given) at [`DEFAULT_WEBHOOK_PATH`].
    pub fn new(inner: S, webhook: Option<InvalidationWebhook>) -> Self {
        Self { inner, webhook }
    }
}

pin_project! {
    /// The response future of [`WebhookRoute`].
    pub struct RouteFuture<F> {
        #[pin]
        state: Route<F>,
    }
}

pin_project! {
    #[project = RouteProj]
    enum Route<F> {
        Inner { #[pin] future: F },
        Webhook { #[pin] future: WebhookFuture },
    }
}

impl<F, B, E> Future for RouteFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<BodyOrEnvelope<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            RouteProj::Inner { future } => {
                Poll::Ready(Ok(ready!(future.poll(cx))?.map(BodyOrEnvelope::inner)))
            }
            RouteProj::Webhook { future } => match ready!(future.poll(cx)) {
                Ok(response) => Poll::Ready(Ok(response.map(BodyOrEnvelope::envelope))),
                Err(never) => match never {},
            },
        }
    }
}

impl<S, B, ResBody> Service<Request<B>> for WebhookRoute<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<BodyOrEnvelope<ResBody>>;
    type Error = S::Error;
    type Future = RouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match &mut self.webhook {
            Some(webhook) if request.uri().path() == DEFAULT_WEBHOOK_PATH => RouteFuture {
                state: Route::Webhook {
                    future: webhook.call(request),
                },
            },
            _ => RouteFuture {
                state: Route::Inner {
                    future: self.inner.call(request),
                },
            },
        }
    }
}
