//! [`McpService`]: the endpoint serving a [`ContextSource`] over REST and MCP.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{HeaderMap, Request, Response};
use http_body::Body;
use tower_service::Service;

use super::classify::{McpRequest, Operation, classify};
use super::endpoint::Endpoint;
use super::generation::{Fetched, Follow, Jobs};
use super::metadata::ResourceMetadataService;
use super::response_body::ResponseBody;
use super::session::SessionStore;
use super::{rest, rpc};
use crate::context::{ContextId, ContextSource, SourceError, SourceRequest, TraceContext};
use crate::error::{BoxError, Dialect, ErrorCode, FullBody, Rejection};
use crate::principal::Principal;

/// The MCP endpoint over a [`ContextSource`]: the REST API under `/context` and MCP
/// Streamable HTTP (both protocol eras) at the configured path (default `/mcp`).
///
/// It never fails (`Error = Infallible`); every refusal is an envelope response in the
/// caller's dialect, with the [`Rejection`] in the response extensions.
///
/// ```
/// use http::Request;
/// use http_body_util::{BodyExt, Full};
/// use mcp_bastion::context::{ContextEntry, ContextId, StaticSource};
/// use mcp_bastion::mcp::McpService;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let source = StaticSource::new().with_context(
///     ContextId::parse("public-docs/getting-started")?,
///     ContextEntry::text("markdown", "text", "# Getting Started"),
/// );
/// let service = McpService::new(source);
/// let request = Request::get("/context/public-docs/getting-started").body(Full::<bytes::Bytes>::default())?;
/// let response = service.oneshot(request).await?;
/// assert_eq!(response.status(), 200);
/// let body = response.into_body().collect().await?.to_bytes();
/// let envelope: serde_json::Value = serde_json::from_slice(&body)?;
/// assert_eq!(envelope["contextId"], "public-docs/getting-started");
/// # Ok(()) }
/// ```
pub struct McpService<S> {
    pub(super) shared: Arc<Shared<S>>,
}

pub(crate) struct Shared<S> {
    pub(crate) source: Arc<S>,
    pub(crate) endpoint: Endpoint,
    pub(crate) sessions: Option<SessionStore>,
    /// The generation jobs, when asynchronous generation is on.
    pub(crate) jobs: Option<Jobs>,
}

impl<S> Clone for McpService<S> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S> fmt::Debug for McpService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpService")
            .field("endpoint", &self.shared.endpoint)
            .finish_non_exhaustive()
    }
}

impl<S: ContextSource> McpService<S> {
    /// The endpoint with the default configuration.
    pub fn new(source: S) -> Self {
        Self::with_endpoint(source, Endpoint::default())
    }

    /// The endpoint described by `endpoint`.
    pub fn with_endpoint(source: S, endpoint: Endpoint) -> Self {
        let sessions = endpoint
            .sessions
            .map(|settings| SessionStore::new(settings.max_sessions, settings.idle_timeout));
        let jobs = endpoint.generation.map(Jobs::new);
        Self {
            shared: Arc::new(Shared {
                source: Arc::new(source),
                endpoint,
                sessions,
                jobs,
            }),
        }
    }

    /// The endpoint description in use.
    pub fn endpoint(&self) -> &Endpoint {
        &self.shared.endpoint
    }
}

/// The future returned by [`McpService`].
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

impl<S, B> Service<Request<B>> for McpService<S>
where
    S: ContextSource,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { Ok(shared.handle(request).await) })
    }
}

impl<S: ContextSource> Shared<S> {
    async fn handle<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        // A layer in front may have classified the request already: then nothing is parsed
        // again (and the body, read by that layer, is not needed).
        let request = match classify(&self.endpoint, request).await {
            Ok(request) => request,
            Err(refusal) => return refusal.map(ResponseBody::from),
        };
        let (mut parts, _body) = request.into_parts();
        let Some(classified) = parts.extensions.remove::<McpRequest>() else {
            return Rejection::internal()
                .into_response(Dialect::Other)
                .map(ResponseBody::from);
        };
        let dialect = classified.dialect;
        let whole = |response: Response<FullBody>| response.map(ResponseBody::from);
        let answer = match classified.operation {
            Operation::ReadContext(id) => rest::read(self, &parts, id).await.map(whole),
            Operation::ListContexts => rest::list(self, &parts).await.map(whole),
            Operation::BatchRead(ids) => Ok(whole(rest::batch(self, &parts, &ids).await)),
            Operation::JsonRpc(rpc) => rpc::exchange(self, &parts, rpc).await,
            Operation::McpTransport => rpc::transport(self, &parts).map(whole),
            Operation::ResourceMetadata => {
                Ok(whole(self.endpoint.resource_metadata().map_or_else(
                    || Rejection::not_found("no route for this path").into_response(dialect),
                    |metadata| ResourceMetadataService::new(metadata).respond(&parts.method),
                )))
            }
            Operation::Grpc | Operation::Other => {
                Err(Rejection::not_found("no route for this path"))
            }
        };
        answer.unwrap_or_else(|rejection| whole(rejection.into_response(dialect)))
    }
}

/// What a source sees of a request: principal, deadline, trace context; never credentials.
pub(crate) fn source_request(headers: &HeaderMap, extensions: &http::Extensions) -> SourceRequest {
    SourceRequest {
        principal: extensions.get::<Principal>().cloned().map(Arc::new),
        deadline: extensions
            .get::<crate::context::Deadline>()
            .map(|deadline| deadline.0),
        // The observe layer's (validated once), else the request's own headers.
        trace: extensions
            .get::<TraceContext>()
            .cloned()
            .or_else(|| TraceContext::from_headers(headers)),
        #[cfg(feature = "otel")]
        request_span: extensions
            .get::<crate::otel::RequestSpanTrace>()
            .map(|ours| ours.0.clone()),
        ..SourceRequest::default()
    }
}

/// One call to the source, observed: its `source` span, and (feature `metrics`) its
/// latency and failures.
pub(crate) struct SourceCall {
    span: tracing::Span,
    #[cfg(feature = "metrics")]
    operation: &'static str,
}

/// Prepares a call to the source (`operation`: `get` or `list`) and sets the trace context
/// the source sees (`trace`): with OpenTelemetry recording the span (feature `otel`), the
/// span's own, so the source's calls are its children; when OpenTelemetry does not record
/// this one (a filter leaves DEBUG spans out), the current span's if it records that, else
/// the request span's (`request_span`); otherwise the caller's. `from_meta` is a context from `params._meta`
/// (2026-07-28), used when the request's headers had none.
pub(crate) fn source_call(
    operation: &'static str,
    trace: &mut Option<TraceContext>,
    from_meta: Option<TraceContext>,
    request_span: Option<&TraceContext>,
) -> SourceCall {
    let span = tracing::debug_span!("source", operation);
    let from_meta = from_meta.filter(|_| trace.is_none());
    #[cfg(feature = "otel")]
    let from_meta = match crate::otel::continue_in(&span, from_meta.as_ref(), request_span) {
        Some(ours) => {
            *trace = Some(ours);
            None
        }
        // Our request span is not in a trace that came in `_meta`: that one is handed on.
        None if from_meta.is_none() => {
            if let Some(ours) = crate::otel::current().or_else(|| request_span.cloned()) {
                *trace = Some(ours);
            }
            None
        }
        None => from_meta,
    };
    #[cfg(not(feature = "otel"))]
    let _ = request_span;
    if let Some(meta) = from_meta {
        *trace = Some(meta);
    }
    SourceCall {
        span,
        #[cfg(feature = "metrics")]
        operation,
    }
}

impl SourceCall {
    /// Awaits the source's answer in the span, measuring it.
    pub(crate) async fn run<T>(
        self,
        call: impl Future<Output = Result<T, SourceError>>,
    ) -> Result<T, SourceError> {
        use tracing::Instrument as _;
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let answer = call.instrument(self.span).await;
        #[cfg(feature = "metrics")]
        crate::metrics::source_answered(self.operation, started.elapsed(), answer.as_ref().err());
        answer
    }
}

impl<S: ContextSource> Shared<S> {
    /// Reads one context for a REST read or `resources/read`: straight from the source, or
    /// through the generation jobs when asynchronous generation is on.
    pub(crate) async fn fetch(
        &self,
        id: &ContextId,
        request: SourceRequest,
        call: SourceCall,
    ) -> Fetched {
        self.fetch_or_follow(id, request, call, false).await.0
    }

    /// [`fetch`](Self::fetch); with `follow`, a read still pending after the short wait also
    /// gets a [`Follow`] to go on waiting for its job.
    pub(crate) async fn fetch_or_follow(
        &self,
        id: &ContextId,
        request: SourceRequest,
        call: SourceCall,
        follow: bool,
    ) -> (Fetched, Option<Follow>) {
        match &self.jobs {
            Some(jobs) => jobs.read(&self.source, id, request, call, follow).await,
            None => match call.run(self.source.get(id, &request)).await {
                Ok(context) => (Ok(Arc::new(context)), None),
                Err(err) => (Err(err.into()), None),
            },
        }
    }
}

/// The rejection for a failed source call; internals are logged, never sent.
pub(crate) fn source_rejection(err: &SourceError, id: &str) -> Rejection {
    match err {
        SourceError::NotFound => Rejection::not_found(format!("Context '{id}' not found.")),
        SourceError::InvalidRequest(message) => Rejection::bad_request(message.clone()),
        SourceError::TooLarge { limit } => {
            tracing::error!(
                context_id = id,
                limit,
                "context exceeds the source size limit"
            );
            Rejection::new(
                ErrorCode::Internal,
                "the context source failed: the context exceeds its size limit",
            )
        }
        SourceError::Unavailable(reason) => {
            tracing::warn!(context_id = id, reason = %reason, "context source unavailable");
            Rejection::new(ErrorCode::Unavailable, "the context source is unavailable")
        }
        // Where pending cannot be answered as such (a batch item).
        SourceError::Pending { retry_after } => Rejection::new(
            ErrorCode::Unavailable,
            "the context is being generated; read it again later",
        )
        .with_retry_after(*retry_after),
        SourceError::Internal(cause) => {
            tracing::error!(context_id = id, error = %cause, "context source failed");
            Rejection::new(ErrorCode::Internal, "the context source failed")
        }
    }
}
