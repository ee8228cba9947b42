//! The [`ContextSource`] trait, the requests it serves and its errors.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;

use super::boxed::BoxContextSource;
use super::data::{ContextEntry, ContextMeta, ResourceTemplate};
use super::id::ContextId;
use super::select::{SelectionSupport, Selector};
use crate::error::BoxError;
use crate::principal::Principal;

/// Where contexts come from: implement this and [`McpService`](crate::mcp::McpService) serves
/// them over REST and MCP.
///
/// Implementations receive the caller's [`Principal`] (never its credential) in the request.
/// `list` pages through ids in ascending order; its cursor is the source's own and reaches
/// clients only wrapped in an opaque token.
///
/// ```
/// use mcp_bastion::context::{ContextEntry, ContextId, ContextSource, SourceError, SourceRequest, StaticSource};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let source = StaticSource::new()
///     .with_context(ContextId::parse("docs/hello").unwrap(), ContextEntry::text("markdown", "text", "# Hi"));
/// let found = source.get(&ContextId::parse("docs/hello").unwrap(), &SourceRequest::default()).await;
/// assert_eq!(found.unwrap().data.content.as_text(), Some("# Hi"));
/// let missing = source.get(&ContextId::parse("docs/nope").unwrap(), &SourceRequest::default()).await;
/// assert!(matches!(missing, Err(SourceError::NotFound)));
/// # }
/// ```
pub trait ContextSource: Send + Sync + 'static {
    /// Reads one context.
    fn get(
        &self,
        id: &ContextId,
        request: &SourceRequest,
    ) -> impl Future<Output = Result<ContextEntry, SourceError>> + Send;

    /// Lists context metadata in ascending id order, one page at a time.
    fn list(
        &self,
        request: &ListRequest,
    ) -> impl Future<Output = Result<Page<ContextMeta>, SourceError>> + Send;

    /// URI templates for contexts that are not listed (MCP `resources/templates/list`).
    fn templates(&self) -> Vec<ResourceTemplate> {
        Vec::new()
    }

    /// Who applies a read's [`Selector`](super::Selector): by default the endpoint, which
    /// projects the whole context this source returns. A source that selects better itself
    /// (a database, a search index) returns [`SelectionSupport::Source`] and answers with
    /// the selected content, reading the selector from [`SourceRequest::selection`].
    ///
    /// ```
    /// use mcp_bastion::context::{ContextSource, SelectionSupport, StaticSource};
    ///
    /// assert_eq!(StaticSource::new().selection(), SelectionSupport::Crate);
    /// ```
    fn selection(&self) -> SelectionSupport {
        SelectionSupport::Crate
    }

    /// Erases the source's type, for sources chosen at run time; see [`BoxContextSource`].
    ///
    /// ```
    /// use mcp_bastion::context::{BoxContextSource, ContextSource, StaticSource};
    ///
    /// let source: BoxContextSource = StaticSource::new().boxed();
    /// # let _ = source;
    /// ```
    fn boxed(self) -> BoxContextSource
    where
        Self: Sized,
    {
        BoxContextSource::new(self)
    }
}

impl<S: ContextSource> ContextSource for Arc<S> {
    fn get(
        &self,
        id: &ContextId,
        request: &SourceRequest,
    ) -> impl Future<Output = Result<ContextEntry, SourceError>> + Send {
        (**self).get(id, request)
    }

    fn list(
        &self,
        request: &ListRequest,
    ) -> impl Future<Output = Result<Page<ContextMeta>, SourceError>> + Send {
        (**self).list(request)
    }

    fn templates(&self) -> Vec<ResourceTemplate> {
        (**self).templates()
    }

    fn selection(&self) -> SelectionSupport {
        (**self).selection()
    }
}

/// When a request's answer stops being useful, in the request extensions:
/// [`OverloadLayer`](crate::overload::OverloadLayer) sets it, and
/// [`McpService`](crate::mcp::McpService) hands it to the source as
/// [`SourceRequest::deadline`] so a source can stop early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub Instant);

/// What a source learns about the request it serves.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SourceRequest {
    /// The authenticated caller, when an auth layer ran.
    pub principal: Option<Arc<Principal>>,
    /// The selection the client asked for (REST `?select=`, `limit`, `cursor`; MCP
    /// `resources/read` `select`, `limit`, `cursor`), parsed and with the cursor opened.
    /// Informational unless the source declares [`SelectionSupport::Source`]: otherwise
    /// the endpoint projects whatever the source returns.
    pub selection: Option<Selector>,
    /// When the answer stops being useful.
    pub deadline: Option<Instant>,
    /// The caller's W3C trace context (validated), for sources that call further services:
    /// send [`TraceContext::traceparent`](super::TraceContext::traceparent) on, with a span
    /// id of your own.
    pub trace: Option<super::TraceContext>,
    /// The request span's own context (feature `otel`, when OpenTelemetry records it): what
    /// `trace` becomes when the `source` span itself is not recorded.
    pub(crate) request_span: Option<super::TraceContext>,
}

/// A request for one page of the listing.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListRequest {
    /// Only ids starting with this string.
    pub prefix: Option<String>,
    /// Resume after this source cursor (from a previous [`Page::next_cursor`]).
    pub cursor: Option<String>,
    /// At most this many items (at least 1).
    pub limit: usize,
    /// The authenticated caller, when an auth layer ran.
    pub principal: Option<Arc<Principal>>,
    /// The W3C trace context to send on, as in [`SourceRequest::trace`].
    pub trace: Option<super::TraceContext>,
}

impl Default for ListRequest {
    fn default() -> Self {
        Self {
            prefix: None,
            cursor: None,
            limit: 100,
            principal: None,
            trace: None,
        }
    }
}

impl ListRequest {
    /// A request for the first `limit` items.
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            ..Self::default()
        }
    }

    /// Restricts the listing to ids starting with `prefix`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Continues after `cursor`.
    #[must_use]
    pub fn with_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor for the next page, absent on the last one.
    pub next_cursor: Option<String>,
}

/// Why a source could not answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum SourceError {
    /// No context with this id exists (or the caller may not know that it does).
    NotFound,
    /// The request is invalid for this source (bad selector, bad cursor); the message is
    /// shown to the client.
    InvalidRequest(String),
    /// The context is larger than the source's size limit.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A dependency of the source is down; retrying later may work.
    Unavailable(String),
    /// The context is being generated and is not ready yet: the client is told to come back
    /// after `retry_after` (REST: `202 Accepted` with `Retry-After`; MCP: a pending result,
    /// see the README section "Slow contexts: asynchronous generation"). A source that
    /// generates in the background answers this until the result is ready; a slow source can
    /// also just take its time and let the endpoint's asynchronous generation
    /// ([`EndpointBuilder::async_generation`](crate::mcp::EndpointBuilder::async_generation))
    /// turn the wait into a background job.
    Pending {
        /// The source's estimate of when the context will be ready.
        retry_after: std::time::Duration,
    },
    /// Anything else; logged, never shown to the client.
    Internal(BoxError),
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("context not found"),
            Self::InvalidRequest(message) => write!(f, "invalid request: {message}"),
            Self::TooLarge { limit } => write!(f, "context exceeds the {limit}-byte limit"),
            Self::Unavailable(message) => write!(f, "source unavailable: {message}"),
            Self::Pending { retry_after } => write!(
                f,
                "context is being generated; retry in {} ms",
                retry_after.as_millis()
            ),
            Self::Internal(err) => write!(f, "source failed: {err}"),
        }
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Internal(err) => Some(err.as_ref()),
            _ => None,
        }
    }
}
