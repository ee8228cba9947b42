//! The policy: what a rule may say ([`Action`], [`Target`], [`RequestAttributes`]), what a
//! check answers ([`Decision`]); the file format in `document`, the compiled form and the
//! decision function in `compiled`.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

mod compiled;
mod document;

pub use compiled::Policy;
/// What a request does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Read a context or resource, get a prompt.
    Read,
    /// List contexts or resources.
    List,
    /// Call a tool or a gRPC method.
    Call,
    /// Change something.
    Write,
    /// Administrative operations.
    Admin,
}

impl Action {
    pub(super) const ALL: [Self; 5] =
        [Self::Read, Self::List, Self::Call, Self::Write, Self::Admin];

    pub(super) fn bit(self) -> u8 {
        match self {
            Self::Read => 1,
            Self::List => 2,
            Self::Call => 4,
            Self::Write => 8,
            Self::Admin => 16,
        }
    }

    /// `read`, `list`, `call`, `write` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::List => "list",
            Self::Call => "call",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target<'a> {
    /// A context id (`project-alpha/dependency-graph`); also what mapped resource URIs become.
    Context(&'a str),
    /// A resource URI no mapping turns into a context id (`file:///docs/a.md`).
    Resource(&'a str),
    /// A tool name.
    Tool(&'a str),
    /// A prompt name.
    Prompt(&'a str),
    /// A gRPC method path (`/pkg.Service/Method`).
    Grpc(&'a str),
    /// Any other HTTP path.
    Path(&'a str),
}

/// The kinds of target, as a decision's `target` names them (`kind:value`).
const TARGET_KINDS: [&str; 6] = ["context", "resource", "tool", "prompt", "grpc", "path"];

/// What the refusal of `decision` says: it names the kind of thing refused, never calling a
/// path or a tool a context, and nothing of its value.
pub(crate) fn refusal_message(decision: &Decision) -> &'static str {
    let kind = decision.target.split_once(':').map_or("", |(kind, _)| kind);
    match kind {
        // A JSON-RPC method without a target is a `call` of the MCP path.
        "path" if decision.action == Action::Call => "Not authorized to call this method.",
        "context" => "Not authorized to access this context.",
        "resource" => "Not authorized to access this resource.",
        "tool" => "Not authorized to call this tool.",
        "prompt" => "Not authorized to get this prompt.",
        "grpc" => "Not authorized to call this method.",
        _ => "Not authorized to access this path.",
    }
}

impl Target<'_> {
    pub(super) fn kind(self) -> usize {
        match self {
            Self::Context(_) => 0,
            Self::Resource(_) => 1,
            Self::Tool(_) => 2,
            Self::Prompt(_) => 3,
            Self::Grpc(_) => 4,
            Self::Path(_) => 5,
        }
    }

    fn name(self) -> &'static str {
        TARGET_KINDS[self.kind()]
    }

    /// The id, URI, name or path.
    pub fn value(&self) -> &str {
        match self {
            Self::Context(v)
            | Self::Resource(v)
            | Self::Tool(v)
            | Self::Prompt(v)
            | Self::Grpc(v)
            | Self::Path(v) => v,
        }
    }
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name(), self.value())
    }
}

/// Facts about the request that conditions may test.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RequestAttributes {
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The MCP method (`resources/read`) or, for other requests, the HTTP method (`GET`).
    pub method: Option<String>,
    /// The time of the request (default: now).
    pub now: Option<jiff::Timestamp>,
    /// Sensitivity labels the context source gave the target (added to the policy's own).
    pub resource_labels: BTreeSet<String>,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The request may proceed.
    Allow,
    /// The request is refused.
    Deny,
}

/// The outcome of a policy check, with what explains it. Contains no credential.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// Allow or deny.
    pub effect: Effect,
    /// The id of the deciding rule; `None` when nothing allowed (default deny).
    pub rule: Option<Arc<str>>,
    /// The subject of the principal.
    pub subject: String,
    /// The action checked.
    pub action: Action,
    /// The target checked, as `kind:value`.
    pub target: String,
    /// When an allow rule matched but the token lacks scopes: every scope that rule needs.
    pub required_scopes: Vec<String>,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        self.effect == Effect::Allow
    }
}
