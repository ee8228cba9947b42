//! Authorization: RBAC roles and ABAC conditions per context, resource, tool, prompt, gRPC
//! method and path, default deny. See [`Policy`] for the file format.

mod cidr;
mod glob;
mod handle;
mod layer;
mod model;
mod service;

pub use handle::PolicyHandle;
pub use layer::{DEFAULT_LIST_RESPONSE_LIMIT, PolicyLayer, PolicyLayerBuilder};
pub use model::{Action, Decision, Effect, Policy, RequestAttributes, Target};
pub use service::{Authorize, ResponseFuture};

#[cfg(test)]
mod tests;
