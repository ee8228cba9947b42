//! [`ObserveService`] and its response future: a request id, a span, the facts slot, and the
//! access log.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::access::{AccessLog, Answer, Ending};
use super::body::ObservedBody;
use super::request_id::{X_REQUEST_ID, accept_or_make};
use crate::client_addr::ClientAddr;
use crate::context::TraceContext;
use crate::facts::{RequestFacts, loggable};

/// The service built by [`ObserveLayer`](super::ObserveLayer).
#[derive(Debug, Clone)]
pub struct ObserveService<S> {
    inner: S,
}

impl<S> ObserveService<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, B, ResBody> Service<Request<B>> for ObserveService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let request_id = accept_or_make(request.headers());
        // The layers below (the error envelope) quote the id we settled on.
        request
            .headers_mut()
            .insert(X_REQUEST_ID, request_id.clone());
        let facts = RequestFacts::default();
        request.extensions_mut().insert(facts.clone());
        // The caller's W3C trace context, validated once for every layer and the source.
        let trace = TraceContext::from_headers(request.headers());
        let span = request_span(&request_id, &mut request, trace.as_ref());
        if let Some(trace) = trace {
            request.extensions_mut().insert(trace);
        }
        #[cfg_attr(not(feature = "otel"), allow(unused_mut))]
        let mut log = AccessLog::new(
            span.clone(),
            request_id,
            request.method().clone(),
            request.uri().path().to_owned(),
            request.extensions().get::<ClientAddr>().copied(),
            facts,
        );
        #[cfg(feature = "otel")]
        {
            log.session = request
                .headers()
                .get("mcp-session-id")
                .and_then(|value| value.to_str().ok())
                .filter(|value| value.len() <= super::request_id::MAX_REQUEST_ID_LEN)
                .map(str::to_owned);
        }
        let future = span.in_scope(|| self.inner.call(request));
        ResponseFuture {
            future,
            log: Some(Box::new(log)),
        }
    }
}

/// The `request` span: at ERROR level, so the id is on error lines even when INFO is filtered
/// out. With OpenTelemetry (feature `otel`) it is a server span that joins the caller's trace,
/// and its own context goes in the request's extensions for the source.
fn request_span<B>(
    request_id: &http::HeaderValue,
    request: &mut Request<B>,
    trace: Option<&TraceContext>,
) -> tracing::Span {
    let caller_trace_id = trace.map_or("-", TraceContext::trace_id);
    #[cfg(not(feature = "otel"))]
    let span = tracing::error_span!(
        "request",
        request_id = request_id.to_str().unwrap_or("-"),
        trace_id = caller_trace_id,
        http.request.method = &*loggable(request.method().as_str()),
        url.path = &*loggable(request.uri().path()),
    );
    #[cfg(feature = "otel")]
    let span = {
        let span = tracing::error_span!(
            "request",
            request_id = request_id.to_str().unwrap_or("-"),
            trace_id = tracing::field::Empty,
            http.request.method = &*loggable(request.method().as_str()),
            url.path = &*loggable(request.uri().path()),
            otel.kind = "server",
        );
        // The trace id OpenTelemetry gave the span (the caller's or a new one) goes in the
        // logs, so a log line finds its trace.
        match crate::otel::start_request(&span, trace) {
            Some(ours) => {
                span.record("trace_id", ours.trace_id());
                request
                    .extensions_mut()
                    .insert(crate::otel::RequestSpanTrace(ours));
            }
            None => {
                span.record("trace_id", caller_trace_id);
            }
        }
        span
    };
    span
}

pin_project! {
    /// The response future of [`ObserveService`].
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        log: Option<Box<AccessLog>>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<ObservedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = {
            let _entered = this.log.as_ref().map(|log| log.span.enter());
            ready!(this.future.poll(cx))
        };
        let mut log = this.log.take().expect("polled after completion");
        match answer {
            Ok(mut response) => {
                log.answer = Some(Answer::of(&response));
                response
                    .headers_mut()
                    .insert(X_REQUEST_ID, log.request_id.clone());
                let head = log.method == http::Method::HEAD;
                Poll::Ready(Ok(response.map(|body| ObservedBody::new(body, log, head))))
            }
            Err(err) => {
                log.write(Ending::Failed, 0);
                Poll::Ready(Err(err))
            }
        }
    }
}
