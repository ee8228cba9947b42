//! [`LabelCheck`]: a decision to take again once a context's labels are known.

use std::fmt;
use std::sync::Arc;

use super::ContextLabels;
use crate::error::Rejection;

type Check = dyn Fn(&ContextLabels) -> Option<Rejection> + Send + Sync;

/// A check of a read against the sensitivity labels the source gives the context, for
/// answers that cannot wait for them before their head is sent.
///
/// A layer that decides reads by labels ([`PolicyLayer`](crate::policy::PolicyLayer)) puts
/// one into the request extensions; an endpoint that streams its answer (a slow MCP read
/// answered with progress notifications) calls it with the labels of the context it read
/// before it writes any of its content, and sends the rejection instead when there is one.
///
/// ```
/// use std::collections::BTreeSet;
/// use mcp_bastion::context::{ContextId, ContextLabels, LabelCheck};
/// use mcp_bastion::error::{ErrorCode, Rejection};
///
/// let check = LabelCheck::new(|labels: &ContextLabels| {
///     labels
///         .of("hr/salaries")
///         .is_some_and(|labels| labels.contains("restricted"))
///         .then(|| Rejection::new(ErrorCode::Forbidden, "not for you"))
/// });
/// let mut labels = ContextLabels::default();
/// labels.add(&ContextId::parse("hr/salaries")?, &BTreeSet::from(["restricted".to_owned()]));
/// assert!(check.refusal(&labels).is_some());
/// assert!(check.refusal(&ContextLabels::default()).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LabelCheck(Arc<Check>);

impl LabelCheck {
    /// A check answering a rejection for the labels it refuses, `None` for those it allows.
    pub fn new(
        check: impl Fn(&ContextLabels) -> Option<Rejection> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(check))
    }

    /// The rejection, when `labels` turn the read into a refusal.
    pub fn refusal(&self, labels: &ContextLabels) -> Option<Rejection> {
        (self.0)(labels)
    }
}

impl fmt::Debug for LabelCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabelCheck").finish_non_exhaustive()
    }
}
