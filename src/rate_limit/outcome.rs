//! What a store's verdict means for a request: pass (with the header fields) or the refusal
//! in the request's dialect.

use http::Response;
use serde_json::Value;

use super::config::StoreFailure;
use super::headers::{QuotaHeaders, seconds};
use super::limits::RateLimits;
use super::quota::Quota;
use super::store::{StoreError, Verdict};
use crate::error::{Dialect, ErrorCode, FullBody, Rejection};
use crate::facts::LimitedBy;
use crate::mcp::{McpRequest, RpcMessage};

/// What happens to a charged request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Forward it; add these fields to the answer.
    Pass(Option<QuotaHeaders>),
    /// Answer this instead.
    Refuse(Response<FullBody>),
}

/// How a refusal is addressed: the dialect, and the JSON-RPC id of a single request.
#[derive(Debug, Clone)]
pub(crate) struct ReplyTo {
    pub(crate) dialect: Dialect,
    pub(crate) rpc_id: Option<Value>,
}

impl ReplyTo {
    pub(crate) fn dialect(dialect: Dialect) -> Self {
        Self {
            dialect,
            rpc_id: None,
        }
    }

    /// A single JSON-RPC request is answered with its own id; a batch, as a whole, with null.
    pub(crate) fn request(request: &McpRequest) -> Self {
        let rpc_id =
            request
                .rpc()
                .filter(|rpc| !rpc.batch)
                .and_then(|rpc| match rpc.messages.first() {
                    Some(RpcMessage::Call(call)) => call.id.clone(),
                    _ => None,
                });
        Self {
            dialect: request.dialect,
            rpc_id,
        }
    }

    fn render(&self, rejection: Rejection) -> Response<FullBody> {
        let rejection = match &self.rpc_id {
            Some(id) if self.dialect == Dialect::JsonRpc => rejection.with_json_rpc_id(id.clone()),
            _ => rejection,
        };
        rejection.into_response(self.dialect)
    }
}

/// The outcome of `cost` units charged to `quota`.
pub(crate) fn outcome(
    limits: &RateLimits,
    quota: &Quota,
    cost: u32,
    verdict: Result<Verdict, StoreError>,
    reply: &ReplyTo,
) -> Outcome {
    match verdict {
        Ok(Verdict::Allowed { remaining, reset }) => {
            Outcome::Pass(Some(QuotaHeaders::new(quota, remaining, reset)))
        }
        Ok(Verdict::Limited {
            retry_after,
            remaining,
            reset,
        }) => {
            let wait = seconds(retry_after).max(1);
            let rejection = Rejection::new(
                ErrorCode::RateLimited,
                format!(
                    "rate limit of quota \"{}\" reached: retry in {wait} s",
                    quota.name()
                ),
            )
            .with_details(serde_json::json!({ "quota": quota.name(), "retryAfter": wait }))
            .with_retry_after(std::time::Duration::from_secs(wait));
            let mut response = reply.render(rejection);
            QuotaHeaders::new(quota, remaining, reset).append_to(response.headers_mut());
            response
                .extensions_mut()
                .insert(LimitedBy(std::sync::Arc::from(quota.name())));
            Outcome::Refuse(response)
        }
        Ok(Verdict::TooCostly { remaining, reset }) => {
            let rejection = Rejection::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "this request costs {cost} units; quota \"{}\" allows at most {} at once: send fewer ids or messages per request",
                    quota.name(),
                    quota.burst()
                ),
            )
            .with_details(serde_json::json!({ "quota": quota.name(), "cost": cost, "burst": quota.burst() }));
            let mut response = reply.render(rejection);
            QuotaHeaders::new(quota, remaining, reset).append_to(response.headers_mut());
            Outcome::Refuse(response)
        }
        Err(err) => match limits.on_store_error() {
            StoreFailure::Allow => {
                tracing::warn!(error = %err, quota = quota.name(), "rate limit not applied");
                Outcome::Pass(None)
            }
            StoreFailure::Deny => {
                tracing::warn!(error = %err, quota = quota.name(), "request refused: rate-limit store unavailable");
                let rejection = Rejection::new(
                    ErrorCode::Unavailable,
                    "rate limits cannot be checked now; retry shortly",
                )
                .with_retry_after(std::time::Duration::from_secs(1));
                Outcome::Refuse(reply.render(rejection))
            }
        },
    }
}
