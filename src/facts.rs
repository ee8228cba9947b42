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

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use http::Extensions;

/// What the layers learn about one request (shared by every clone; each fact set once).
#[derive(Debug, Clone, Default)]
pub struct RequestFacts(Arc<Facts>);

#[derive(Debug, Default)]
struct Facts {
    client: OnceLock<String>,
    // Shared or static where the layers hold them that way: recording them copies nothing.
    principal: OnceLock<Arc<str>>,
    operation: OnceLock<Cow<'static, str>>,
    target: OnceLock<String>,
    rule: OnceLock<Arc<str>>,
    denied_by: OnceLock<Arc<str>>,
}

/// On an answer: a rate limit refused it (the configured quota's name). Set by the rate
/// limiter only, so metrics never take a label from an inner service's text.
#[derive(Debug, Clone)]
pub(crate) struct LimitedBy(pub(crate) Arc<str>);

/// On an answer: the overload layer shed it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shed;

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
    pub fn set_principal(&self, identity: impl Into<Arc<str>>) {
        let _ = self.0.principal.set(identity.into());
    }

    /// What the request asks for: the MCP method (`resources/read`) or the REST operation
    /// (`context.read`, `context.list`, `context.batch`).
    pub fn set_operation(&self, operation: impl Into<Cow<'static, str>>) {
        let _ = self.0.operation.set(operation.into());
    }

    /// [`set_operation`](Self::set_operation) for a name of unknown lifetime: a known
    /// operation is kept as our own static name, no copy.
    pub(crate) fn set_operation_named(&self, operation: &str) {
        let known = KNOWN_OPERATIONS
            .iter()
            .chain(&["response", "grpc", "other"])
            .find(|known| **known == operation);
        self.set_operation(
            known.map_or_else(|| Cow::Owned(operation.to_owned()), |k| Cow::Borrowed(*k)),
        );
    }

    /// What it acts on: a context id, resource URI, tool or prompt name.
    pub fn set_target(&self, target: impl Into<String>) {
        let _ = self.0.target.set(target.into());
    }

    /// The policy rule that allowed the request (the first one, for a batch).
    pub fn set_rule(&self, rule: impl Into<Arc<str>>) {
        let _ = self.0.rule.set(rule.into());
    }

    /// The policy refused the request: by this deny rule, or by default (`default-deny`).
    pub fn set_denied_by(&self, rule: impl Into<Arc<str>>) {
        let _ = self.0.denied_by.set(rule.into());
    }

    /// The client address, if recorded.
    pub fn client(&self) -> Option<&str> {
        self.0.client.get().map(String::as_str)
    }

    /// The caller's identity, if recorded.
    pub fn principal(&self) -> Option<&str> {
        self.0.principal.get().map(AsRef::as_ref)
    }

    /// The operation, if recorded.
    pub fn operation(&self) -> Option<&str> {
        self.0.operation.get().map(AsRef::as_ref)
    }

    /// The target, if recorded.
    pub fn target(&self) -> Option<&str> {
        self.0.target.get().map(String::as_str)
    }

    /// The deciding policy rule: the one that refused, else the one that allowed.
    pub fn rule(&self) -> Option<&str> {
        self.denied_by()
            .or_else(|| self.0.rule.get().map(AsRef::as_ref))
    }

    /// The policy's refusal, if it refused (the rule, or `default-deny`).
    pub fn denied_by(&self) -> Option<&str> {
        self.0.denied_by.get().map(AsRef::as_ref)
    }
}

/// The operations the metrics and the request span name by their own name (a metric label
/// value, a span name); any other, a JSON-RPC method a client made up included, is `other`.
pub(crate) const KNOWN_OPERATIONS: [&str; 20] = [
    "context.read",
    "context.list",
    "context.batch",
    "initialize",
    "ping",
    "server/discover",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "batch",
    "mcp.transport",
    "resource-metadata",
];

/// Longest caller-influenced text a log line quotes.
pub(crate) const MAX_LOGGED_LEN: usize = 256;

/// Longest plain name.
pub(crate) const MAX_PLAIN_NAME_LEN: usize = 128;

/// A plain name: 1 to 128 characters of `[A-Za-z0-9._-]`, the shape both of a request id we
/// keep and of an MCP tool name, safe as it is in a log line, a header or a span name.
pub(crate) fn is_plain_name(name: &[u8]) -> bool {
    (1..=MAX_PLAIN_NAME_LEN).contains(&name.len())
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Text a caller chose (a path, a method, a resource URI, a token's subject) as a log line
/// may quote it: characters that could end or disguise a line (controls, Unicode line and
/// paragraph separators, bidirectional overrides, zero-width marks) replaced, and cut at
/// [`MAX_LOGGED_LEN`] bytes.
pub(crate) fn loggable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{FEFF}')
    };
    // Most text is short printable ASCII: one pass over the bytes says so.
    let short = text.len() <= MAX_LOGGED_LEN;
    if short && text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Cow::Borrowed(text);
    }
    if short && !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out: String = text
        .chars()
        .map(|c| if unsafe_char(c) { '\u{fffd}' } else { c })
        .collect();
    if out.len() > MAX_LOGGED_LEN {
        let mut end = MAX_LOGGED_LEN;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::loggable;

    #[test]
    fn caller_text_cannot_forge_lines_or_flood_the_log() {
        assert_eq!(loggable("resources/read"), "resources/read");
        assert_eq!(loggable("a\nfake\u{1b}[31m"), "a\u{fffd}fake\u{fffd}[31m");
        for sneaky in [
            '\u{85}', '\u{2028}', '\u{2029}', '\u{202E}', '\u{2066}', '\u{200B}',
        ] {
            assert!(!loggable(&format!("x{sneaky}y")).contains(sneaky));
        }
        let long = "é".repeat(300);
        let cut = loggable(&long);
        assert!(cut.len() <= 256 + '…'.len_utf8() && cut.ends_with('…'));
    }
}
