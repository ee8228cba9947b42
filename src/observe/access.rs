//! The access log: exactly one event per request (target `mcp_bastion::access`, INFO), when
//! its answer has been sent — or cut off, or failed.

use std::time::Instant;

use http::{HeaderValue, Method, StatusCode};
use tracing::Span;

use crate::client_addr::ClientAddr;
use crate::error::{Rejection, refuses_credential};
use crate::facts::{LimitedBy, RequestFacts, Shed, loggable};

/// What the access-log event of one request says; written once, when it is finished.
#[derive(Debug)]
pub(crate) struct AccessLog {
    pub(crate) span: Span,
    pub(crate) request_id: HeaderValue,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) peer: Option<ClientAddr>,
    pub(crate) facts: RequestFacts,
    pub(crate) started: Instant,
    /// Filled in when the answer's head is known.
    pub(crate) answer: Option<Answer>,
    /// The request's `mcp-session-id` (at most [`MAX_REQUEST_ID_LEN`](super::MAX_REQUEST_ID_LEN)
    /// characters).
    #[cfg(feature = "otel")]
    pub(crate) session: Option<String>,
    written: bool,
}

/// The head of the answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) error_code: Option<&'static str>,
    pub(crate) cache: Option<HeaderValue>,
    /// A credential was presented and refused (`error="invalid_token"`).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) invalid_token: bool,
    /// The quota that refused it, as the rate limiter marked it.
    pub(crate) limited_by: Option<std::sync::Arc<str>>,
    /// The overload layer shed it.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) shed: bool,
    /// The MCP session the answer issued (`initialize`).
    #[cfg(feature = "otel")]
    pub(crate) session: Option<HeaderValue>,
}

impl Answer {
    pub(crate) fn of<B>(response: &http::Response<B>) -> Self {
        let rejection = response.extensions().get::<Rejection>();
        // Only what our layers say counts (a quota name from an inner service's rejection
        // could be anything: the rate limiter records its own in the facts).
        Self {
            status: response.status(),
            error_code: rejection.map(|rejection| rejection.code().as_str()),
            cache: response.headers().get("cache-status").cloned(),
            invalid_token: refuses_credential(response.headers()),
            limited_by: response
                .extensions()
                .get::<LimitedBy>()
                .map(|LimitedBy(quota)| std::sync::Arc::clone(quota)),
            shed: response.extensions().get::<Shed>().is_some(),
            #[cfg(feature = "otel")]
            session: response.headers().get("mcp-session-id").cloned(),
        }
    }
}

/// How the answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Sent whole.
    Complete,
    /// The body failed or the client went away before its end.
    CutOff,
    /// The inner service failed (`Err`): no answer from it.
    Failed,
}

impl AccessLog {
    pub(crate) fn new(
        span: Span,
        request_id: HeaderValue,
        method: Method,
        path: String,
        peer: Option<ClientAddr>,
        facts: RequestFacts,
    ) -> Self {
        #[cfg(feature = "metrics")]
        crate::metrics::started();
        Self {
            span,
            request_id,
            method,
            path,
            peer,
            facts,
            started: Instant::now(),
            answer: None,
            #[cfg(feature = "otel")]
            session: None,
            written: false,
        }
    }

    /// Writes the event (once).
    pub(crate) fn write(&mut self, ending: Ending, bytes: u64) {
        if std::mem::replace(&mut self.written, true) {
            return;
        }
        let facts = &self.facts;
        let peer = self.peer.map(|ClientAddr(addr)| addr.ip().to_string());
        let client = loggable(facts.client().or(peer.as_deref()).unwrap_or("-"));
        let (status, error_code, cache) = match &self.answer {
            Some(answer) => (
                answer.status.as_u16(),
                answer.error_code,
                answer.cache.as_ref().and_then(|c| c.to_str().ok()),
            ),
            None => (0, Some("INTERNAL"), None),
        };
        let duration = self.started.elapsed();
        #[cfg(feature = "metrics")]
        crate::metrics::finished(&crate::metrics::Finished {
            operation: facts.operation(),
            head: self.method == Method::HEAD,
            status,
            error_code,
            invalid_token: self.answer.as_ref().is_some_and(|a| a.invalid_token),
            denied_by: facts.denied_by(),
            limited_by: self.answer.as_ref().and_then(|a| a.limited_by.as_deref()),
            shed: self.answer.as_ref().is_some_and(|a| a.shed),
            cache,
            bytes,
            duration,
        });
        let duration_ms = duration.as_secs_f64() * 1000.0;
        tracing::info!(
            target: "mcp_bastion::access",
            parent: &self.span,
            request_id = self.request_id.to_str().unwrap_or("-"),
            client = &*client,
            principal = &*loggable(facts.principal().unwrap_or("-")),
            http.request.method = &*loggable(self.method.as_str()),
            url.path = &*loggable(&self.path),
            mcp.method.name = &*loggable(facts.operation().unwrap_or("-")),
            mcp.target = &*loggable(facts.target().unwrap_or("-")),
            rule = &*loggable(facts.rule().unwrap_or("-")),
            status,
            error.code = error_code.unwrap_or("-"),
            cache = cache.unwrap_or("-"),
            quota = self.answer.as_ref().and_then(|a| a.limited_by.as_deref()).unwrap_or("-"),
            bytes,
            duration_ms,
            ending = ?ending,
            "request"
        );
        #[cfg(feature = "otel")]
        crate::otel::finish_request(
            &self.span,
            &crate::otel::Outcome {
                operation: facts.operation(),
                target: facts.target(),
                status,
                error_code,
                failed: ending != Ending::Complete,
                // The request that opens a session has no id to send: its answer issues one.
                session: self
                    .answer
                    .as_ref()
                    .and_then(|answer| answer.session.as_ref())
                    .and_then(|session| session.to_str().ok())
                    .or(self.session.as_deref()),
            },
        );
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        // A request dropped before its answer (the client went away, a deadline) is still
        // one line.
        self.write(Ending::CutOff, 0);
    }
}
