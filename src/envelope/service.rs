use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body::Body;
use tower_service::Service;

use super::future::{ResponseFuture, panic_rejection};
use crate::error::BodyOrEnvelope;
use crate::error::{BoxError, DialectDetector};

/// Request header whose value is quoted as `requestId` in envelopes.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// The service built by [`ErrorEnvelopeLayer`](super::ErrorEnvelopeLayer).
#[derive(Debug, Clone)]
pub struct ErrorEnvelope<S> {
    inner: S,
    detector: Arc<DialectDetector>,
    /// A readiness error of the inner service, answered on the next call.
    not_ready: Option<Arc<str>>,
}

impl<S> ErrorEnvelope<S> {
    pub(crate) fn new(inner: S, detector: Arc<DialectDetector>) -> Self {
        Self {
            inner,
            detector,
            not_ready: None,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ErrorEnvelope<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<BodyOrEnvelope<ResBody>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(err)) => {
                // We cannot fail readiness (Error = Infallible): remember why and answer the
                // call that follows with an envelope instead of calling the inner service.
                let err: BoxError = err.into();
                self.not_ready = Some(Arc::from(err.to_string()));
                Poll::Ready(Ok(()))
            }
        }
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let dialect = self.detector.detect(request.uri(), request.headers());
        let request_id = request
            .headers()
            .get(REQUEST_ID)
            .filter(|id| id.len() <= 128 && id.to_str().is_ok())
            .cloned();
        if let Some(reason) = self.not_ready.take() {
            tracing::error!(error = %reason, "inner service failed readiness");
            let rejection = crate::error::Rejection::new(
                crate::error::ErrorCode::Unavailable,
                "service unavailable",
            );
            return ResponseFuture::rejected(rejection, dialect, request_id);
        }
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
            Ok(future) => ResponseFuture::new(future, dialect, request_id),
            Err(panic) => ResponseFuture::rejected(panic_rejection(&*panic), dialect, request_id),
        }
    }
}

/// The request id header value as text.
pub(crate) fn request_id_str(id: Option<&HeaderValue>) -> Option<&str> {
    id.and_then(|id| id.to_str().ok())
}
