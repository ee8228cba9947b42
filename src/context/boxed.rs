//! [`BoxContextSource`]: any [`ContextSource`] behind one type, for sources chosen at run
//! time.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::id::ContextId;
use super::{ContextEntry, ContextMeta, ContextSource, ListRequest, Page, ResourceTemplate};
use super::{SelectionSupport, SourceError, SourceRequest};

/// The boxed future a [`BoxContextSource`] answers with.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The dyn-compatible twin of [`ContextSource`]: the same methods with boxed futures.
trait DynContextSource: Send + Sync + 'static {
    fn get_boxed<'a>(
        &'a self,
        id: &'a ContextId,
        request: &'a SourceRequest,
    ) -> BoxFuture<'a, Result<ContextEntry, SourceError>>;

    fn list_boxed<'a>(
        &'a self,
        request: &'a ListRequest,
    ) -> BoxFuture<'a, Result<Page<ContextMeta>, SourceError>>;

    fn templates_dyn(&self) -> Vec<ResourceTemplate>;

    fn selection_dyn(&self) -> SelectionSupport;
}

impl<S: ContextSource> DynContextSource for S {
    fn get_boxed<'a>(
        &'a self,
        id: &'a ContextId,
        request: &'a SourceRequest,
    ) -> BoxFuture<'a, Result<ContextEntry, SourceError>> {
        Box::pin(self.get(id, request))
    }

    fn list_boxed<'a>(
        &'a self,
        request: &'a ListRequest,
    ) -> BoxFuture<'a, Result<Page<ContextMeta>, SourceError>> {
        Box::pin(self.list(request))
    }

    fn templates_dyn(&self) -> Vec<ResourceTemplate> {
        self.templates()
    }

    fn selection_dyn(&self) -> SelectionSupport {
        self.selection()
    }
}

/// A [`ContextSource`] whose concrete type is erased: one type for whichever source the
/// configuration picks at run time. Each call allocates its future once.
///
/// Cloning is cheap (the source sits behind an [`Arc`]). Build one with
/// [`BoxContextSource::new`] or [`ContextSource::boxed`].
///
/// ```
/// use http::{Request, StatusCode};
/// use http_body_util::Empty;
/// use mcp_bastion::context::{BoxContextSource, ContextEntry, ContextId, ContextSource, DirSource, StaticSource};
/// use mcp_bastion::mcp::McpService;
/// use tower::ServiceExt;
///
/// /// Files under `root` when one is configured, a built-in page otherwise.
/// fn source(root: Option<&std::path::Path>) -> Result<BoxContextSource, Box<dyn std::error::Error>> {
///     Ok(match root {
///         Some(root) => DirSource::new(root)?.boxed(),
///         None => StaticSource::new()
///             .with_context(
///                 ContextId::parse("getting-started")?,
///                 ContextEntry::text("markdown", "text", "# Getting Started"),
///             )
///             .boxed(),
///     })
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("getting-started"), "# From disk")?;
/// for root in [None, Some(dir.path())] {
///     // Either way the endpoint has one type: McpService<BoxContextSource>.
///     let service: McpService<BoxContextSource> = McpService::new(source(root)?);
///     let request = Request::get("/context/getting-started").body(Empty::<bytes::Bytes>::new())?;
///     let response = service.oneshot(request).await?;
///     assert_eq!(response.status(), StatusCode::OK);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BoxContextSource {
    inner: Arc<dyn DynContextSource>,
}

impl BoxContextSource {
    /// Erases the type of `source`.
    ///
    /// ```
    /// use mcp_bastion::context::{BoxContextSource, StaticSource};
    ///
    /// let source = BoxContextSource::new(StaticSource::new());
    /// # let _ = source;
    /// ```
    pub fn new<S: ContextSource>(source: S) -> Self {
        Self {
            inner: Arc::new(source),
        }
    }
}

impl fmt::Debug for BoxContextSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxContextSource").finish_non_exhaustive()
    }
}

impl ContextSource for BoxContextSource {
    async fn get(
        &self,
        id: &ContextId,
        request: &SourceRequest,
    ) -> Result<ContextEntry, SourceError> {
        self.inner.get_boxed(id, request).await
    }

    async fn list(&self, request: &ListRequest) -> Result<Page<ContextMeta>, SourceError> {
        self.inner.list_boxed(request).await
    }

    fn templates(&self) -> Vec<ResourceTemplate> {
        self.inner.templates_dyn()
    }

    fn selection(&self) -> SelectionSupport {
        self.inner.selection_dyn()
    }

    /// Already boxed: returns `self` rather than boxing twice.
    fn boxed(self) -> BoxContextSource {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{StaticSource, source_fn};

    fn id(text: &str) -> ContextId {
        ContextId::parse(text).unwrap()
    }

    fn pick(use_fn: bool) -> BoxContextSource {
        if use_fn {
            source_fn(|id: ContextId, _request: SourceRequest| async move {
                Ok(ContextEntry::text("note", "text", format!("fn:{id}")))
            })
            .boxed()
        } else {
            BoxContextSource::new(
                StaticSource::new()
                    .with_context(id("docs/a"), ContextEntry::text("note", "text", "static:a"))
                    .with_context(id("docs/b"), ContextEntry::text("note", "text", "static:b"))
                    .with_template(ResourceTemplate::new("ctx://docs/{name}", "docs")),
            )
        }
    }

    #[tokio::test]
    async fn forwards_get_list_and_templates() {
        let source = pick(false);
        let context = source
            .get(&id("docs/a"), &SourceRequest::default())
            .await
            .unwrap();
        assert_eq!(context.data.content.as_text(), Some("static:a"));
        assert!(matches!(
            source.get(&id("docs/zz"), &SourceRequest::default()).await,
            Err(SourceError::NotFound)
        ));
        let page = source.list(&ListRequest::new(1)).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].id, id("docs/a"));
        let cursor = page.next_cursor.expect("a second page");
        let page = source
            .list(&ListRequest::new(10).with_cursor(cursor))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].id, id("docs/b"));
        assert_eq!(source.templates().len(), 1);
        assert_eq!(source.selection(), SelectionSupport::Crate);
        let selecting = source_fn(|_id: ContextId, _request: SourceRequest| async move {
            Ok(ContextEntry::text("note", "text", "x"))
        })
        .selecting_itself();
        assert_eq!(
            Arc::new(selecting).boxed().selection(),
            SelectionSupport::Source
        );
    }

    #[tokio::test]
    async fn sources_of_different_types_share_one_type() {
        let sources = [pick(true), pick(false)];
        let mut texts = Vec::new();
        for source in &sources {
            let context = source
                .get(&id("docs/a"), &SourceRequest::default())
                .await
                .unwrap();
            texts.push(context.data.content.as_text().unwrap().to_owned());
        }
        assert_eq!(texts, ["fn:docs/a", "static:a"]);
        assert!(sources[0].templates().is_empty());
        assert!(
            sources[0]
                .list(&ListRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }

    #[tokio::test]
    async fn boxing_twice_keeps_one_layer_and_clones_share_the_source() {
        let once = pick(false);
        let twice = once.clone().boxed();
        assert!(Arc::ptr_eq(&once.inner, &twice.inner));
        let shared = Arc::new(pick(false)).boxed();
        let context = shared
            .get(&id("docs/b"), &SourceRequest::default())
            .await
            .unwrap();
        assert_eq!(context.data.content.as_text(), Some("static:b"));
        assert_eq!(format!("{once:?}"), "BoxContextSource { .. }");
    }
}
