use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use futures_util::future::CatchUnwind;
use http::{HeaderValue, Response, header};
use pin_project_lite::pin_project;

use super::service::request_id_str;
use crate::error::BodyOrEnvelope;
use crate::error::{BoxError, Dialect, ErrorCode, Rejection, Rendered, is_json_content_type};

pin_project! {
    /// The response future of [`ErrorEnvelope`](super::ErrorEnvelope).
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        dialect: Dialect,
        request_id: Option<HeaderValue>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] future: CatchUnwind<AssertUnwindSafe<F>> },
        Rejected { rejection: Option<Rejection> },
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(crate) fn new(future: F, dialect: Dialect, request_id: Option<HeaderValue>) -> Self {
        Self {
            state: State::Inner {
                future: AssertUnwindSafe(future).catch_unwind(),
            },
            dialect,
            request_id,
        }
    }

    pub(crate) fn rejected(
        rejection: Rejection,
        dialect: Dialect,
        request_id: Option<HeaderValue>,
    ) -> Self {
        Self {
            state: State::Rejected {
                rejection: Some(rejection),
            },
            dialect,
            request_id,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<BodyOrEnvelope<B>>, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let request_id = this.request_id.as_ref();
        let rejection = match this.state.project() {
            StateProj::Rejected { rejection } => {
                rejection.take().unwrap_or_else(Rejection::internal)
            }
            StateProj::Inner { future } => match std::task::ready!(future.poll(cx)) {
                Ok(Ok(response)) => {
                    return Poll::Ready(Ok(normalise(response, *this.dialect, request_id)));
                }
                Ok(Err(err)) => error_rejection(&err.into()),
                Err(panic) => panic_rejection(&*panic),
            },
        };
        let response = rejection.to_response(*this.dialect, request_id_str(request_id));
        let mut response = response.map(BodyOrEnvelope::envelope);
        response.extensions_mut().insert(rejection);
        Poll::Ready(Ok(response))
    }
}

/// The rejection for an `Err` of the inner service; the error itself is only logged.
fn error_rejection(err: &BoxError) -> Rejection {
    if err.is::<tower::timeout::error::Elapsed>() {
        tracing::warn!("request timed out");
        Rejection::new(ErrorCode::Timeout, "the request timed out")
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        tracing::warn!("request shed: service overloaded");
        Rejection::new(
            ErrorCode::Unavailable,
            "the service is overloaded; retry later",
        )
    } else {
        tracing::error!(error = %err, "inner service failed");
        Rejection::internal()
    }
}

/// The rejection for a panic; the panic message is only logged.
pub(crate) fn panic_rejection(panic: &(dyn Any + Send)) -> Rejection {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic payload)");
    tracing::error!(panic = message, "panic while serving a request");
    Rejection::internal()
}

/// Passes responses through; gives error responses without an envelope one, and quotes
/// the request id in envelopes that lack it.
fn normalise<B>(
    response: Response<B>,
    dialect: Dialect,
    request_id: Option<&HeaderValue>,
) -> Response<BodyOrEnvelope<B>> {
    let status = response.status();
    // Our own rendering of a rejection is an error whatever its status (a JSON-RPC error can
    // travel with 200); a 2xx body of an inner service is never replaced.
    let rejected = response.extensions().get::<Rejection>().is_some()
        && response.extensions().get::<Rendered>().is_some();
    if !(status.is_client_error() || status.is_server_error() || rejected)
        || dialect == Dialect::Grpc
    {
        return response.map(BodyOrEnvelope::inner);
    }
    let rejection = match response.extensions().get::<Rejection>() {
        // Our own envelope: only re-render to add the request id.
        Some(rejection) if request_id.is_some() => rejection.clone(),
        Some(_) => return response.map(BodyOrEnvelope::inner),
        None if is_json_content_type(response.headers(), true) => {
            return response.map(BodyOrEnvelope::inner);
        }
        None => {
            let code = ErrorCode::from_status(status);
            let message = status.canonical_reason().unwrap_or("error").to_owned();
            if status.is_server_error() {
                tracing::error!(
                    status = status.as_u16(),
                    "inner service answered a server error without an envelope"
                );
            }
            Rejection::new(code, message).with_status(status)
        }
    };
    let (mut parts, _) = response.into_parts();
    let rendered = rejection.to_response(dialect, request_id_str(request_id));
    let (rendered_parts, body) = rendered.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    for (name, value) in &rendered_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    parts.extensions.insert(rejection);
    Response::from_parts(parts, BodyOrEnvelope::envelope(body))
}
