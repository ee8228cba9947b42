//! [`StaticSource`]: contexts held in memory.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::id::ContextId;
use super::{
    ContextEntry, ContextMeta, ContextSource, ListRequest, Page, ResourceTemplate, SourceError,
    SourceRequest,
};

/// Contexts held in memory, listed in id order.
///
/// ```
/// use mcp_bastion::context::{ContextEntry, ContextId, ContextSource, ListRequest, StaticSource};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let source = StaticSource::new()
///     .with_context(ContextId::parse("a/1").unwrap(), ContextEntry::text("note", "text", "one"))
///     .with_context(ContextId::parse("a/2").unwrap(), ContextEntry::text("note", "text", "two"));
/// let page = source.list(&ListRequest::new(1)).await.unwrap();
/// assert_eq!(page.items[0].id.as_str(), "a/1");
/// let next = source.list(&ListRequest::new(1).with_cursor(page.next_cursor.unwrap())).await.unwrap();
/// assert_eq!(next.items[0].id.as_str(), "a/2");
/// assert_eq!(next.next_cursor, None);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticSource {
    contexts: BTreeMap<ContextId, ContextEntry>,
    templates: Vec<ResourceTemplate>,
}

impl StaticSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a context.
    #[must_use]
    pub fn with_context(mut self, id: ContextId, context: ContextEntry) -> Self {
        self.contexts.insert(id, context);
        self
    }

    /// Adds a resource template to advertise.
    #[must_use]
    pub fn with_template(mut self, template: ResourceTemplate) -> Self {
        self.templates.push(template);
        self
    }

    /// Number of contexts.
    pub fn len(&self) -> usize {
        self.contexts.len()
    }

    /// Whether the source holds no context.
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }
}

impl ContextSource for StaticSource {
    async fn get(
        &self,
        id: &ContextId,
        _request: &SourceRequest,
    ) -> Result<ContextEntry, SourceError> {
        self.contexts.get(id).cloned().ok_or(SourceError::NotFound)
    }

    async fn list(&self, request: &ListRequest) -> Result<Page<ContextMeta>, SourceError> {
        Ok(page_after(&self.contexts, request, |id, context| {
            context.meta(id.clone())
        }))
    }

    fn templates(&self) -> Vec<ResourceTemplate> {
        self.templates.clone()
    }
}

/// One page of an ordered map: items after the request's cursor, starting with its prefix.
pub(crate) fn page_after<V, F>(
    map: &BTreeMap<ContextId, V>,
    request: &ListRequest,
    to_meta: F,
) -> Page<ContextMeta>
where
    F: Fn(&ContextId, &V) -> ContextMeta,
{
    let prefix = request.prefix.as_deref().unwrap_or("");
    let start: Bound<&str> = match request.cursor.as_deref() {
        Some(cursor) if cursor >= prefix => Bound::Excluded(cursor),
        _ => Bound::Included(prefix),
    };
    let limit = request.limit.max(1);
    let mut items = Vec::with_capacity(limit.min(map.len()));
    let mut more = false;
    for (id, value) in map.range::<str, _>((start, Bound::Unbounded)) {
        if !id.starts_with(prefix) {
            break;
        }
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(to_meta(id, value));
    }
    let next_cursor = if more {
        items
            .last()
            .map(|meta: &ContextMeta| meta.id.as_str().to_owned())
    } else {
        None
    };
    Page { items, next_cursor }
}
