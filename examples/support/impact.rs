//! The demo's slow context: `project-alpha/impact-report` takes about three seconds to
//! generate, longer than the endpoint waits, so a read is answered `202 Accepted` and a later
//! read (at `Location`, after `Retry-After`) gets the report. Every other id goes to the
//! inner source.

use std::future::Future;
use std::time::Duration;

use mcp_bastion::context::{
    CacheScope, ContextEntry, ContextId, ContextMeta, ContextSource, ListRequest, Page,
    ResourceTemplate, SourceError, SourceRequest,
};

/// The id of the slow context.
pub(crate) const IMPACT_REPORT: &str = "project-alpha/impact-report";
/// How long generating it takes.
const GENERATION: Duration = Duration::from_secs(3);

/// `inner`, plus the slow impact report (read-only: not listed).
pub(crate) struct WithImpactReport<S>(pub(crate) S);

impl<S: ContextSource> ContextSource for WithImpactReport<S> {
    fn get(
        &self,
        id: &ContextId,
        request: &SourceRequest,
    ) -> impl Future<Output = Result<ContextEntry, SourceError>> + Send {
        let slow = id.as_str() == IMPACT_REPORT;
        let inner = (!slow).then(|| self.0.get(id, request));
        async move {
            if let Some(inner) = inner {
                return inner.await;
            }
            tokio::time::sleep(GENERATION).await;
            let report =
                "# Impact report: project-alpha\n\nChanging A affects B (1 direct dependant).";
            Ok(ContextEntry::text("impactReport", "markdown", report)
                .with_version("1.0.0")
                .with_title("Project Alpha impact report")
                .with_cache(Some(Duration::from_secs(60)), CacheScope::Private))
        }
    }

    fn list(
        &self,
        request: &ListRequest,
    ) -> impl Future<Output = Result<Page<ContextMeta>, SourceError>> + Send {
        self.0.list(request)
    }

    fn templates(&self) -> Vec<ResourceTemplate> {
        self.0.templates()
    }
}
