//! Authorization: [`PolicyLayer`] decides, for every request, whether this principal may do
//! this to this target, from a [`Policy`]: RBAC roles plus ABAC conditions, deny overrides
//! allow, no matching allow means deny.
//!
//! ```
//! use mcp_bastion::auth::{ApiKey, ApiKeyStore, AuthLayer};
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::envelope::ErrorEnvelopeLayer;
//! use mcp_bastion::mcp::McpService;
//! use mcp_bastion::policy::{Policy, PolicyHandle, PolicyLayer};
//! use mcp_bastion::principal::{AuthMethod, Principal};
//! use tower::ServiceBuilder;
//!
//! let policy = PolicyHandle::new(Policy::from_toml(r#"
//!     roles = ["developer"]
//!     [[rules]]
//!     id = "developers-read"
//!     effect = "allow"
//!     roles = ["developer"]
//!     actions = ["read", "list"]
//!     contexts = ["project-alpha/**"]
//! "#)?);
//! let keys = ApiKeyStore::new([ApiKey::new(
//!     "user-dev-token",
//!     Principal::new("devUser", AuthMethod::ApiKey).with_role("developer"),
//! )?])?;
//! let service = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::new())
//!     .layer(AuthLayer::builder().api_keys(keys).build()?)
//!     .layer(PolicyLayer::new(policy.clone()))
//!     .service(McpService::new(StaticSource::new()));
//! // Later, e.g. on SIGHUP: an invalid policy is refused and the old one keeps serving.
//! # let _ = service;
//! # Ok::<(), mcp_bastion::error::ConfigError>(())
//! ```
//!
//! # The policy file (TOML)
//!
//! ```toml
//! roles = ["admin", "developer", "guest"]      # every role a rule may name
//!
//! [labels]                                     # sensitivity labels by context pattern
//! "**" = "public"
//! "project-alpha/**" = "confidential"
//!
//! [[rules]]
//! id = "project-alpha-team"                    # unique; named in decisions and logs
//! effect = "allow"                             # allow | deny (deny overrides allow)
//! roles = ["admin", "developer"]               # any of these; "*" = anyone, anonymous too
//! actions = ["read", "list"]                   # read, list, call, write, admin, "*"
//! contexts = ["project-alpha/**"]              # context-id globs: * one segment, ** any
//! resources = []                               # URI globs for URIs no mapping turns into ids
//! tools = []                                   # tool names (tools/call, tools/list)
//! prompts = []                                 # prompt names (prompts/get, prompts/list)
//! grpc = []                                    # gRPC paths, e.g. "/ctx.v1.Contexts/*"
//! paths = []                                   # other HTTP paths
//! scopes = ["context:read"]                    # OAuth scopes the token must carry
//! [rules.when]                                 # ABAC: every condition must hold
//! attributes = { department = ["eng", "ops"] } # principal attribute equals one of
//! client_ip = ["10.0.0.0/8", "::1"]            # client address in a CIDR block
//! time = { zone = "Europe/Berlin", days = ["mon", "tue", "wed", "thu", "fri"], from = "08:00", to = "18:00" }
//! methods = ["resources/read", "GET"]          # MCP method, or HTTP method elsewhere
//! sensitivity = ["public", "internal"]         # every label of the context is one of these
//! ```
//!
//! Loading validates everything (unknown role, action or label, bad glob, CIDR, time zone,
//! day or time, unknown fields) and errors name the field and place (`rules[2] (id).roles[0]`).
//! Rules are compiled into segment tries per target kind, so a decision costs the same for
//! ten rules or ten thousand.
//!
//! # What is checked
//!
//! Every request that reaches the inner service is decided, except the RFC 9728 metadata
//! document (public by definition) and the MCP protocol plumbing ([`PROTOCOL_METHODS`]:
//! `initialize`, `ping`, `server/discover` and the lifecycle notifications). The request is
//! classified once ([`classify`](crate::mcp::classify), shared with the endpoint), so
//! 2026-07-28 header checks come first.
//!
//! - REST: `GET`/`HEAD {rest}/{id}` is a `read` of the context; other methods there are 405
//!   before any decision. `GET {rest}` and `POST {rest}` (batch read): the endpoint answers,
//!   then listed items the caller may not list are removed and batch items it may not read
//!   are replaced by 403 entries.
//! - MCP JSON-RPC (both eras): `resources/read`, `resources/subscribe` and
//!   `resources/unsubscribe` (`read`, by mapped context id or URI), `tools/call` (`call`),
//!   `prompts/get` (`read`). The `resources/list`, `resources/templates/list`, `tools/list`
//!   and `prompts/list` results of any inner server (JSON or SSE) are filtered. Any other
//!   method (completion, logging, custom methods, other notifications) is a `call` of the
//!   MCP path with the method in the request attributes: grant it with
//!   `paths = ["/mcp"]` and, to name methods, `when.methods`. A batch (2025-03-26) is refused
//!   whole when any call in it is denied.
//! - Listings: a `list` rule decides whether an entry is shown; without one, an entry is
//!   shown to whoever may use it (`read`, or `call` for tools).
//! - `GET` (a server-sent event stream, which cannot be filtered) and `DELETE` (ending a
//!   session) on the MCP path: a `read` / `write` of that path, denied unless a rule names it.
//! - gRPC (`application/grpc`): `call`, by method path. Other paths: `read` for GET/HEAD,
//!   `write` otherwise, of the percent-decoded path (what a router's handler sees:
//!   `/users/%61dmin` is `/users/admin`); a path with an encoded `/` or `\`, a `.` or `..`
//!   segment, a control character or malformed escapes is refused with 400 first.
//! - Conditions see the client address ([`ClientAddr`](crate::client_addr::ClientAddr);
//!   unknown: `client_ip` allow rules do not apply, `client_ip` deny rules do) and the method:
//!   the JSON-RPC method, or the HTTP method with HEAD counted as GET. A method-scoped deny
//!   must name every way to the target (`GET`, `POST` for REST batch reads,
//!   `resources/read`).
//!
//! A refusal is 401 (with the auth challenge) for anonymous callers, 403
//! `insufficient_scope` when only scopes are missing, 403 `FORBIDDEN` otherwise. A 403 names
//! the kind of target and nothing of it: "Not authorized to access this context." (or
//! "resource", "call this tool", "get this prompt", "call this method" for gRPC and for
//! JSON-RPC methods without a target), and for any
//! other path, routed or not, "Not authorized to access this path." The policy cannot tell
//! whether the service behind it has a route, so an unknown path is refused like a known one
//! (no route probing); in axum, `Stack::mount` leaves unmatched paths to the router's 404.
//! Every
//! decision (subject, action, target, rule, effect; never a credential) is logged under the
//! `mcp_bastion::policy` target and attached to the response extensions as a [`Decision`];
//! [`PolicyHandle::explain`] answers the same question without a request.

mod decide;
mod future;
mod glob;
mod handle;
mod layer;
mod listing;
mod model;
mod path;
mod service;
mod sse;
#[cfg(test)]
mod stream_tests;

pub use decide::PROTOCOL_METHODS;
pub use future::ResponseFuture;
pub use handle::PolicyHandle;
pub use layer::{DEFAULT_LIST_RESPONSE_LIMIT, PolicyLayer, PolicyLayerBuilder};
pub use model::{Action, Decision, Effect, Policy, RequestAttributes, Target};
pub use service::PolicyService;

#[cfg(test)]
mod tests;
