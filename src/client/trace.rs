//! [`TraceparentLayer`]: sends the W3C trace context on, so the server's spans join the
//! caller's trace.

use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::context::TraceContext;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Adds `traceparent` (and `tracestate`) to requests that have none, from a
/// [`TraceContext`] in the request's extensions (a source puts its `SourceRequest::trace`
/// there), else, with feature `otel`, from the current span.
///
/// ```
/// use mcp_bastion::client::TraceparentLayer;
/// use mcp_bastion::context::TraceContext;
///
/// let trace = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None);
/// let mut request = http::Request::get("http://127.0.0.1:3000/context/docs/a").body(()).unwrap();
/// if let Some(trace) = trace {
///     request.extensions_mut().insert(trace);
/// }
/// let layer = TraceparentLayer::new();
/// # let _ = (layer, request);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceparentLayer {
    _private: (),
}

impl TraceparentLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for TraceparentLayer {
    type Service = Traceparent<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Traceparent { inner }
    }
}

/// The service built by [`TraceparentLayer`].
#[derive(Debug, Clone)]
pub struct Traceparent<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for Traceparent<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if !request.headers().contains_key(TRACEPARENT) {
            let trace = request.extensions().get::<TraceContext>().cloned();
            #[cfg(feature = "otel")]
            let trace = trace.or_else(crate::otel::current);
            if let Some(trace) = trace {
                // A TraceContext is validated: its parts are always header values.
                if let Ok(parent) = HeaderValue::from_str(trace.traceparent()) {
                    request.headers_mut().insert(TRACEPARENT, parent);
                    if let Some(state) = trace
                        .tracestate()
                        .and_then(|state| HeaderValue::from_str(state).ok())
                    {
                        request.headers_mut().insert(TRACESTATE, state);
                    }
                }
            }
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{ServiceExt, service_fn};

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    async fn sent(request: Request<()>) -> (Option<String>, Option<String>) {
        let service =
            TraceparentLayer::new().layer(service_fn(|request: Request<()>| async move {
                let header = |name| {
                    request
                        .headers()
                        .get(name)
                        .map(|value: &HeaderValue| value.to_str().unwrap().to_owned())
                };
                Ok::<_, Infallible>((header(TRACEPARENT), header(TRACESTATE)))
            }));
        service.oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn the_context_in_the_extensions_is_sent() {
        let mut request = Request::new(());
        request
            .extensions_mut()
            .insert(TraceContext::parse(PARENT, Some("rojo=00f067aa0ba902b7")).unwrap());
        assert_eq!(
            sent(request).await,
            (
                Some(PARENT.to_owned()),
                Some("rojo=00f067aa0ba902b7".to_owned())
            )
        );
    }

    #[tokio::test]
    async fn a_traceparent_already_there_is_kept_and_none_is_invented() {
        let mut request = Request::new(());
        request.headers_mut().insert(
            TRACEPARENT,
            HeaderValue::from_static("00-11111111111111111111111111111111-2222222222222222-00"),
        );
        request
            .extensions_mut()
            .insert(TraceContext::parse(PARENT, None).unwrap());
        let (parent, _) = sent(request).await;
        assert_eq!(
            parent.as_deref(),
            Some("00-11111111111111111111111111111111-2222222222222222-00")
        );
        assert_eq!(sent(Request::new(())).await, (None, None));
    }
}
