//! From a classified request to policy decisions, and from a denial to the refusal.

// A refusal is the response itself; boxing it would only move it to the heap.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

use http::{Extensions, Method, Response};
use serde_json::Value;

use super::layer::PolicyShared;
use super::model::{Action, Decision, Policy, RequestAttributes, Target, refusal_message};
use super::path::policy_path;
use crate::client_addr::ClientAddr;
use crate::context::{ContextId, ContextLabels, LabelCheck};
use crate::error::{Dialect, ErrorCode, FullBody, JsonRpcError, Rejection, jsonrpc};
use crate::facts::{RequestFacts, loggable};
use crate::mcp::{McpRequest, Operation, RpcMessage, RpcRequest, RpcTarget};
use crate::principal::Principal;

/// Who a request without an authentication layer in front is.
static ANONYMOUS: LazyLock<Principal> = LazyLock::new(Principal::anonymous);

/// The caller: the principal authentication left, or the anonymous one.
pub(crate) fn principal_of(extensions: &Extensions) -> &Principal {
    extensions.get::<Principal>().unwrap_or(&ANONYMOUS)
}

/// What a request needs before it may proceed.
pub(crate) enum Plan {
    /// One decision, known now.
    Decide(Action, OwnedTarget),
    /// A REST listing (`batch`: a batch read): filter what the endpoint answers.
    RestListing { batch: bool },
    /// JSON-RPC: decide every targeted call, filter listings in the answer.
    JsonRpc,
    /// Not judged here: transport requests on the MCP path, the public metadata document.
    PassThrough,
    /// A path with more than one reading (see [`policy_path`]): refused before any decision.
    Refuse(Rejection),
}

/// A target that outlives the request it came from.
pub(crate) enum OwnedTarget {
    Context(String),
    Grpc(String),
    Path(String),
}

impl OwnedTarget {
    pub(crate) fn as_target(&self) -> Target<'_> {
        match self {
            Self::Context(id) => Target::Context(id),
            Self::Grpc(path) => Target::Grpc(path),
            Self::Path(path) => Target::Path(path),
        }
    }
}

/// The plan for a classified request.
pub(crate) fn plan(classified: &McpRequest, method: &Method, path: &str) -> Plan {
    match &classified.operation {
        Operation::ReadContext(id) => {
            Plan::Decide(Action::Read, OwnedTarget::Context(id.as_str().to_owned()))
        }
        Operation::ListContexts => Plan::RestListing { batch: false },
        Operation::BatchRead(_) => Plan::RestListing { batch: true },
        Operation::JsonRpc(_) => Plan::JsonRpc,
        Operation::Grpc => Plan::Decide(Action::Call, OwnedTarget::Grpc(path.to_owned())),
        // The RFC 9728 document is public by definition (clients read it to learn how to
        // authenticate): the one request that passes undecided.
        Operation::ResourceMetadata => Plan::PassThrough,
        // GET (a server-sent stream the layer cannot filter) and DELETE on the MCP path, and
        // any other path: decided as a read or write of that path, default deny.
        _ => {
            let read = method == Method::GET || method == Method::HEAD;
            let action = if read { Action::Read } else { Action::Write };
            match policy_path(path) {
                Ok(path) => Plan::Decide(action, OwnedTarget::Path(path.into_owned())),
                Err(refusal) => Plan::Refuse(refusal),
            }
        }
    }
}

/// The request facts conditions test: the client address and the HTTP method, HEAD counted
/// as the GET it abbreviates (JSON-RPC calls replace the method with theirs).
pub(crate) fn attributes(extensions: &Extensions, method: &Method) -> RequestAttributes {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    RequestAttributes {
        client_ip: extensions.get::<ClientAddr>().map(|addr| addr.0.ip()),
        method: Some(method.as_str().to_owned()),
        ..RequestAttributes::default()
    }
}

/// Logs a decision at DEBUG (never a credential; caller-chosen names made safe to quote)
/// and tells the access log which rule decided.
pub(crate) fn log(decision: &Decision, facts: Option<&RequestFacts>) {
    if let Some(facts) = facts {
        match (decision.is_allowed(), &decision.rule) {
            (true, Some(rule)) => facts.set_rule(Arc::clone(rule)),
            (false, Some(rule)) => facts.set_denied_by(Arc::clone(rule)),
            (false, None) => facts.set_denied_by("default-deny"),
            (true, None) => {}
        }
    }
    tracing::debug!(
        target: "mcp_bastion::policy",
        subject = &*loggable(&decision.subject),
        action = %decision.action,
        target = &*loggable(&decision.target),
        rule = decision.rule.as_deref().unwrap_or("(default deny)"),
        effect = ?decision.effect,
        "policy decision"
    );
}

impl PolicyShared {
    /// The target of a resource URI: its context id when the mapping knows it.
    pub(crate) fn resource_target<'u>(
        &self,
        uri: &'u str,
        id: &'u mut Option<ContextId>,
    ) -> Target<'u> {
        *id = self.endpoint.uri_mapping().to_id(uri).ok();
        match id {
            Some(id) => Target::Context(id.as_str()),
            None => Target::Resource(uri),
        }
    }

    /// The response for a denied decision: 401 for anonymous callers, 403 otherwise
    /// (`insufficient_scope` when only scopes are missing).
    pub(crate) fn refusal(
        &self,
        decision: &Decision,
        principal: &Principal,
        dialect: Dialect,
        rpc_id: Option<Value>,
    ) -> Response<FullBody> {
        let mut response = self
            .refusal_rejection(decision, principal, rpc_id)
            .into_response(dialect);
        response.extensions_mut().insert(decision.clone());
        response
    }

    /// The rejection behind [`refusal`](Self::refusal), for answers that send it in a
    /// stream (a JSON-RPC error event) instead of as a response of its own.
    pub(crate) fn refusal_rejection(
        &self,
        decision: &Decision,
        principal: &Principal,
        rpc_id: Option<Value>,
    ) -> Rejection {
        let challenge = self.endpoint.challenge();
        let mut rejection = if !decision.required_scopes.is_empty() {
            challenge.insufficient_scope(&decision.required_scopes)
        } else if principal.is_anonymous() {
            challenge.authentication_required()
        } else {
            Rejection::new(ErrorCode::Forbidden, refusal_message(decision))
        };
        if let Some(id) = rpc_id {
            rejection = rejection.with_json_rpc(JsonRpcError {
                id,
                code: jsonrpc::INVALID_REQUEST,
                data: None,
            });
        }
        rejection
    }
}

/// A read to decide again once the source has said how sensitive the context is.
pub(crate) struct Recheck {
    pub(crate) shared: Arc<PolicyShared>,
    pub(crate) principal: Principal,
    pub(crate) action: Action,
    pub(crate) target: OwnedTarget,
    pub(crate) attributes: RequestAttributes,
    pub(crate) facts: Option<RequestFacts>,
}

impl Recheck {
    /// The refusal, if the labels the source gave turn the decision into a deny.
    pub(crate) fn refusal(mut self, labels: &ContextLabels) -> Option<Response<FullBody>> {
        let id = self.target.as_target().value().to_owned();
        let labels = labels.of(&id)?;
        self.attributes
            .resource_labels
            .extend(labels.iter().cloned());
        let policy = self.shared.policy.load();
        let decision = policy.decide(
            &self.principal,
            self.action,
            self.target.as_target(),
            &self.attributes,
        );
        log(&decision, self.facts.as_ref());
        (!decision.is_allowed()).then(|| {
            self.shared
                .refusal(&decision, &self.principal, Dialect::Rest, None)
        })
    }
}

/// The kind of listing a JSON-RPC call asked for, to filter its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    Resources,
    Templates,
    Tools,
    Prompts,
}

impl Listing {
    /// The listing a method asks for, if it is one.
    fn of(method: &str) -> Option<Self> {
        match method {
            "resources/list" => Some(Self::Resources),
            "resources/templates/list" => Some(Self::Templates),
            "tools/list" => Some(Self::Tools),
            "prompts/list" => Some(Self::Prompts),
            _ => None,
        }
    }
}

/// Protocol plumbing: methods that only set up or keep up the exchange and reveal nothing
/// but what the server says about itself. They pass without a decision; every other method
/// is decided (a method without a target as a `call` of the MCP path, with the method in
/// the request attributes, so `paths = ["/mcp"]` plus `when.methods` grants it).
pub const PROTOCOL_METHODS: [&str; 7] = [
    "initialize",
    "ping",
    "server/discover",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
];

/// Whether a listing entry is visible: a `list` rule decides when one matches; without one
/// the entry is visible to whoever may use it (`read`, or `call` for tools).
pub(crate) fn may_list(
    policy: &Policy,
    principal: &Principal,
    use_action: Action,
    target: Target<'_>,
    attributes: &RequestAttributes,
) -> bool {
    let listed = policy.decide(principal, Action::List, target, attributes);
    if listed.rule.is_some() {
        return listed.is_allowed();
    }
    policy
        .decide(principal, use_action, target, attributes)
        .is_allowed()
}

/// What the JSON-RPC calls of one request were allowed to do, to check the answer against.
#[derive(Default)]
pub(crate) struct RpcChecks {
    /// Context reads to decide again with the labels the source gives: (JSON-RPC id,
    /// context id).
    pub(crate) reads: Vec<(Value, String)>,
    /// Listings to filter: (JSON-RPC id, kind).
    pub(crate) listings: Vec<(Value, Listing)>,
    /// The id of every call, to refuse answers to anything else.
    pub(crate) call_ids: Vec<Value>,
    /// The last allow, attached to the response.
    pub(crate) decision: Option<Decision>,
}

/// Decides every targeted call of `rpc`; `Err` is the refusal of the first denied one.
pub(crate) fn decide_rpc(
    shared: &PolicyShared,
    policy: &Policy,
    principal: &Principal,
    rpc: &RpcRequest,
    base: &RequestAttributes,
    mcp_path: &str,
    facts: Option<&RequestFacts>,
) -> Result<RpcChecks, Response<FullBody>> {
    let mut checks = RpcChecks::default();
    for message in &rpc.messages {
        let RpcMessage::Call(call) = message else {
            continue;
        };
        if let Some(id) = &call.id {
            checks.call_ids.push(id.clone());
        }
        let mut attributes = base.clone();
        attributes.method = Some(call.method.clone());
        let mut mapped = None;
        let (action, target) = match &call.target {
            Some(RpcTarget::Resource(uri)) => {
                (Action::Read, shared.resource_target(uri, &mut mapped))
            }
            Some(RpcTarget::Tool(name)) => (Action::Call, Target::Tool(name)),
            Some(RpcTarget::Prompt(name)) => (Action::Read, Target::Prompt(name)),
            None if PROTOCOL_METHODS.contains(&call.method.as_str()) => continue,
            None => match (Listing::of(&call.method), &call.id) {
                (Some(listing), Some(id)) => {
                    checks.listings.push((id.clone(), listing));
                    continue;
                }
                // Anything else (completion, logging, custom methods, notifications that
                // are not plumbing) is a call of the endpoint itself.
                _ => (Action::Call, Target::Path(mcp_path)),
            },
        };
        let decision = policy.decide(principal, action, target, &attributes);
        log(&decision, facts);
        let id = call.id.clone().unwrap_or(Value::Null);
        if !decision.is_allowed() {
            return Err(shared.refusal(&decision, principal, Dialect::JsonRpc, Some(id)));
        }
        if let Target::Context(context) = target {
            checks.reads.push((id, context.to_owned()));
        }
        checks.decision = Some(decision);
    }
    Ok(checks)
}

/// The refusal, if the labels the source gave any read context deny one of `reads`.
pub(crate) fn recheck_reads(
    shared: &PolicyShared,
    policy: &Policy,
    principal: &Principal,
    reads: &[(Value, String)],
    labels: &ContextLabels,
    base: &RequestAttributes,
    facts: Option<&RequestFacts>,
) -> Option<Response<FullBody>> {
    let (decision, id) = denied_read(policy, principal, reads, labels, base, facts)?;
    Some(shared.refusal(&decision, principal, Dialect::JsonRpc, Some(id)))
}

/// The [`LabelCheck`] an endpoint calls before it streams the answer to `reads` (whose
/// labels it learns only then): the same decision as [`recheck_reads`], with the policy in
/// force at that moment, answered with the same refusal.
pub(crate) fn label_check(
    shared: Arc<PolicyShared>,
    principal: Principal,
    reads: Vec<(Value, String)>,
    base: RequestAttributes,
    facts: Option<RequestFacts>,
) -> LabelCheck {
    LabelCheck::new(move |labels: &ContextLabels| {
        let policy = shared.policy.load();
        let (decision, id) =
            denied_read(&policy, &principal, &reads, labels, &base, facts.as_ref())?;
        Some(shared.refusal_rejection(&decision, &principal, Some(id)))
    })
}

/// The first of `reads` the labels turn into a denial: its decision and JSON-RPC id.
fn denied_read(
    policy: &Policy,
    principal: &Principal,
    reads: &[(Value, String)],
    labels: &ContextLabels,
    base: &RequestAttributes,
    facts: Option<&RequestFacts>,
) -> Option<(Decision, Value)> {
    for (id, context) in reads {
        let Some(context_labels) = labels.of(context) else {
            continue;
        };
        let mut attributes = base.clone();
        attributes.method = Some("resources/read".to_owned());
        attributes.resource_labels.clone_from(context_labels);
        let decision = policy.decide(
            principal,
            Action::Read,
            Target::Context(context),
            &attributes,
        );
        if !decision.is_allowed() {
            log(&decision, facts);
            return Some((decision, id.clone()));
        }
    }
    None
}

/// Labels as a set (empty when the source gave none).
pub(crate) fn labels_or_empty(labels: Option<&ContextLabels>, id: &str) -> BTreeSet<String> {
    labels
        .and_then(|labels| labels.of(id))
        .cloned()
        .unwrap_or_default()
}
