//! Authorization: RBAC roles and ABAC conditions per context, resource, tool, prompt, gRPC
//! method and path, default deny. See [`Policy`] for the file format.

mod cidr;
mod glob;
mod model;

pub use model::{Action, Decision, Effect, Policy, RequestAttributes, Target};

#[cfg(test)]
mod tests;
