//! [`source_fn`]: a context source from a closure.

use std::fmt;
use std::future::Future;

use super::id::ContextId;
use super::{
    ContextEntry, ContextMeta, ContextSource, ListRequest, Page, SelectionSupport, SourceError,
    SourceRequest,
};

/// A [`ContextSource`] whose `get` is a closure; it lists nothing.
///
/// Built by [`source_fn`].
#[derive(Clone)]
pub struct FnSource<F> {
    get: F,
    selection: SelectionSupport,
}

impl<F> FnSource<F> {
    /// Declares that the closure applies [`SourceRequest::selection`] itself
    /// ([`SelectionSupport::Source`]): the endpoint then sends what it returns unprojected.
    ///
    /// ```
    /// use mcp_bastion::context::{source_fn, ContextEntry, ContextId, ContextSource, SelectionSupport, SourceRequest};
    ///
    /// let source = source_fn(|_id: ContextId, request: SourceRequest| async move {
    ///     let asked = request.selection.map(|s| s.canonical()).unwrap_or_default();
    ///     Ok(ContextEntry::text("query", "text", format!("rows for {asked}")))
    /// })
    /// .selecting_itself();
    /// assert_eq!(source.selection(), SelectionSupport::Source);
    /// ```
    #[must_use]
    pub fn selecting_itself(mut self) -> Self {
        self.selection = SelectionSupport::Source;
        self
    }
}

impl<F> fmt::Debug for FnSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnSource").finish_non_exhaustive()
    }
}

/// Builds a [`ContextSource`] from an async closure answering `get`.
///
/// The closure receives owned copies of the id and request, so it can move them into the
/// future it returns. The listing of such a source is always empty.
///
/// ```
/// use mcp_bastion::context::{source_fn, ContextEntry, ContextId, ContextSource, SourceError, SourceRequest};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let source = source_fn(|id: ContextId, _request: SourceRequest| async move {
///     if id.starts_with("builds/") {
///         Ok(ContextEntry::text("buildStatus", "json", r#"{"status":"green"}"#))
///     } else {
///         Err(SourceError::NotFound)
///     }
/// });
/// let context = source.get(&ContextId::parse("builds/42").unwrap(), &SourceRequest::default()).await;
/// assert!(context.is_ok());
/// # }
/// ```
pub fn source_fn<F, Fut>(get: F) -> FnSource<F>
where
    F: Fn(ContextId, SourceRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ContextEntry, SourceError>> + Send,
{
    FnSource {
        get,
        selection: SelectionSupport::Crate,
    }
}

impl<F, Fut> ContextSource for FnSource<F>
where
    F: Fn(ContextId, SourceRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ContextEntry, SourceError>> + Send,
{
    fn get(
        &self,
        id: &ContextId,
        request: &SourceRequest,
    ) -> impl Future<Output = Result<ContextEntry, SourceError>> + Send {
        (self.get)(id.clone(), request.clone())
    }

    fn selection(&self) -> SelectionSupport {
        self.selection
    }

    async fn list(&self, _request: &ListRequest) -> Result<Page<ContextMeta>, SourceError> {
        Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        })
    }
}
