//! [`McpService`]: the endpoint serving a [`ContextSource`] over REST and MCP.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower_service::Service;

use super::config::McpConfig;
use super::session::SessionStore;
use super::{rest, rpc};
use crate::context::{ContextSource, SourceError, SourceRequest};
use crate::error::{BoxError, Dialect, EnvelopeBody, ErrorCode, Rejection};
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
/// use mcp_bastion::context::{Context, ContextId, StaticSource};
/// use mcp_bastion::mcp::McpService;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let source = StaticSource::new().with_context(
///     ContextId::parse("public-docs/getting-started")?,
///     Context::text("markdown", "text", "# Getting Started"),
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
    shared: Arc<Shared<S>>,
}

pub(crate) struct Shared<S> {
    pub(crate) source: S,
    pub(crate) config: McpConfig,
    pub(crate) sessions: Option<SessionStore>,
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
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S: ContextSource> McpService<S> {
    /// The endpoint with the default configuration.
    pub fn new(source: S) -> Self {
        Self::with_config(source, McpConfig::default())
    }

    /// The endpoint with `config`.
    pub fn with_config(source: S, config: McpConfig) -> Self {
        let sessions = config
            .sessions
            .map(|settings| SessionStore::new(settings.max_sessions, settings.idle_timeout));
        Self {
            shared: Arc::new(Shared {
                source,
                config,
                sessions,
            }),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &McpConfig {
        &self.shared.config
    }
}

/// The future returned by [`McpService`].
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<EnvelopeBody>, Infallible>> + Send>>;

impl<S, B> Service<Request<B>> for McpService<S>
where
    S: ContextSource,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<EnvelopeBody>;
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
    async fn handle<B>(&self, request: Request<B>) -> Response<EnvelopeBody>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let path = request.uri().path();
        let dialect = if path == self.config.mcp_path {
            Dialect::JsonRpc
        } else if path == "/context" || path.starts_with("/context/") {
            Dialect::Rest
        } else {
            Dialect::Other
        };
        // DNS-rebinding defence: a browser always names the host it thinks it talks to.
        let host = request
            .headers()
            .get(header::HOST)
            .map(http::HeaderValue::as_bytes)
            .or_else(|| request.uri().authority().map(|a| a.as_str().as_bytes()));
        if let Some(host) = host {
            let allowed =
                std::str::from_utf8(host).is_ok_and(|host| self.config.hosts.allows(host));
            if !allowed {
                return Rejection::new(ErrorCode::Forbidden, "Forbidden: host not allowed")
                    .into_response(dialect);
            }
        }
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let allowed = origin
                .to_str()
                .is_ok_and(|origin| self.config.origins.allows(origin));
            if !allowed {
                return Rejection::new(ErrorCode::Forbidden, "Forbidden: origin not allowed")
                    .into_response(dialect);
            }
        }
        match dialect {
            Dialect::JsonRpc => rpc::handle(self, request).await,
            Dialect::Rest => rest::handle(self, request).await,
            _ => Rejection::not_found("no route for this path").into_response(Dialect::Other),
        }
    }
}

/// What a source sees of a request: principal, trace context; never credentials.
pub(crate) fn source_request(headers: &HeaderMap, extensions: &http::Extensions) -> SourceRequest {
    SourceRequest {
        principal: extensions.get::<Principal>().cloned().map(Arc::new),
        traceparent: headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ..SourceRequest::default()
    }
}

/// Why a body could not be read.
pub(crate) enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads the whole body, refusing more than `limit` bytes (early when `Content-Length` says
/// so).
pub(crate) async fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, BodyError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
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
        SourceError::Internal(cause) => {
            tracing::error!(context_id = id, error = %cause, "context source failed");
            Rejection::new(ErrorCode::Internal, "the context source failed")
        }
    }
}

/// Whether `method` is GET or HEAD.
pub(crate) fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}
