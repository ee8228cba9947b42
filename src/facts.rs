//! [`RequestFacts`]: what the layers learn about a request — who is calling, from where,
//! what it asks for, which policy rule decided — kept for the access log.
//!
//! [`ObserveLayer`](crate::observe::ObserveLayer) puts an empty `RequestFacts` in the request
//! extensions; each layer below records what it learns (once: the first value stays). Without
//! the observe layer there is nothing to record into and recording costs nothing.
//!
//! ```
//! use http::Request;
//! use mcp_bastion::facts::RequestFacts;
//!
//! let facts = RequestFacts::default();
//! let mut request = Request::new(());
//! request.extensions_mut().insert(facts.clone());
//! // A layer or a handler below:
//! RequestFacts::record(request.extensions(), |facts| facts.set_operation("context.read"));
//! assert_eq!(facts.operation(), Some("context.read"));
//! ```

use std::sync::{Arc, OnceLock};

use http::Extensions;

/// What the layers learn about one request (shared by every clone; each fact set once).
#[derive(Debug, Clone, Default)]
pub struct RequestFacts(Arc<Facts>);

#[derive(Debug, Default)]
struct Facts {
    client: OnceLock<String>,
    principal: OnceLock<String>,
    operation: OnceLock<String>,
    target: OnceLock<String>,
    rule: OnceLock<String>,
}

impl RequestFacts {
    /// Runs `record` on the request's facts, when an observe layer left some.
    pub fn record(extensions: &Extensions, record: impl FnOnce(&Self)) {
        if let Some(facts) = extensions.get::<Self>() {
            record(facts);
        }
    }

    /// The client address (after trusted proxies).
    pub fn set_client(&self, client: impl Into<String>) {
        let _ = self.0.client.set(client.into());
    }

    /// The caller, as `Principal::identity` names it.
    pub fn set_principal(&self, identity: impl Into<String>) {
        let _ = self.0.principal.set(identity.into());
    }

    /// What the request asks for: the MCP method (`resources/read`) or the REST operation
    /// (`context.read`, `context.list`, `context.batch`).
    pub fn set_operation(&self, operation: impl Into<String>) {
        let _ = self.0.operation.set(operation.into());
    }

    /// What it acts on: a context id, resource URI, tool or prompt name.
    pub fn set_target(&self, target: impl Into<String>) {
        let _ = self.0.target.set(target.into());
    }

    /// The policy rule that decided (absent: default deny, or no policy).
    pub fn set_rule(&self, rule: impl Into<String>) {
        let _ = self.0.rule.set(rule.into());
    }

    /// The client address, if recorded.
    pub fn client(&self) -> Option<&str> {
        self.0.client.get().map(String::as_str)
    }

    /// The caller's identity, if recorded.
    pub fn principal(&self) -> Option<&str> {
        self.0.principal.get().map(String::as_str)
    }

    /// The operation, if recorded.
    pub fn operation(&self) -> Option<&str> {
        self.0.operation.get().map(String::as_str)
    }

    /// The target, if recorded.
    pub fn target(&self) -> Option<&str> {
        self.0.target.get().map(String::as_str)
    }

    /// The deciding policy rule, if recorded.
    pub fn rule(&self) -> Option<&str> {
        self.0.rule.get().map(String::as_str)
    }
}
