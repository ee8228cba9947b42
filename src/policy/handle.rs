//! [`PolicyHandle`]: the policy in force, swappable at run time.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::model::{Action, Decision, Policy, RequestAttributes, Target};
use crate::error::ConfigError;
use crate::principal::Principal;

/// The policy in force, shared by every clone of the layer. [`reload_toml`](Self::reload_toml)
/// and [`reload_file`](Self::reload_file) validate the new policy completely before swapping it
/// in atomically; an invalid one is refused and the old one keeps serving.
///
/// ```
/// use mcp_bastion::policy::{Action, Policy, PolicyHandle, RequestAttributes, Target};
/// use mcp_bastion::principal::{AuthMethod, Principal};
///
/// let handle = PolicyHandle::new(Policy::from_toml(r#"roles = ["dev"]"#)?);
/// let dev = Principal::new("dev", AuthMethod::ApiKey).with_role("dev");
/// let explain = |h: &PolicyHandle| h.explain(&dev, Action::Read, Target::Context("a"), &RequestAttributes::default());
/// assert!(!explain(&handle).is_allowed());
/// handle.reload_toml(r#"
///     roles = ["dev"]
///     [[rules]]
///     id = "all"
///     effect = "allow"
///     roles = ["dev"]
///     actions = ["read"]
///     contexts = ["**"]
/// "#)?;
/// assert_eq!(explain(&handle).rule.as_deref(), Some("all"));
/// assert!(handle.reload_toml("roles = [").is_err());
/// assert!(explain(&handle).is_allowed(), "the old policy keeps serving");
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PolicyHandle {
    current: Arc<ArcSwap<Policy>>,
}

impl PolicyHandle {
    /// A handle serving `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(policy)),
        }
    }

    /// The policy in force.
    pub fn load(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    /// Replaces the policy.
    pub fn replace(&self, policy: Policy) {
        self.current.store(Arc::new(policy));
        tracing::info!("policy replaced");
    }

    /// Parses, validates and swaps in a TOML policy; on error nothing changes.
    pub fn reload_toml(&self, text: &str) -> Result<(), ConfigError> {
        let policy = Policy::from_toml(text).inspect_err(|err| {
            tracing::warn!(error = %err, "policy reload refused; the old policy keeps serving");
        })?;
        self.replace(policy);
        Ok(())
    }

    /// Reads, validates and swaps in a TOML policy file; on error nothing changes.
    pub fn reload_file(&self, path: impl AsRef<Path>) -> Result<(), ConfigError> {
        let policy = Policy::from_file(path).inspect_err(|err| {
            tracing::warn!(error = %err, "policy reload refused; the old policy keeps serving");
        })?;
        self.replace(policy);
        Ok(())
    }

    /// The decision for a hypothetical request, with the rule that made it.
    pub fn explain(
        &self,
        principal: &Principal,
        action: Action,
        target: Target<'_>,
        attributes: &RequestAttributes,
    ) -> Decision {
        self.current
            .load()
            .decide(principal, action, target, attributes)
    }
}
