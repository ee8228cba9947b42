//! The access log: exactly one event per request (target `mcp_bastion::access`, INFO), when
//! its answer has been sent — or cut off, or failed.

use std::time::Instant;

use http::{HeaderValue, Method, StatusCode};
use tracing::Span;

use crate::client_addr::ClientAddr;
use crate::error::Rejection;
use crate::facts::RequestFacts;

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
    /// The quota that refused it, for a rate-limit refusal.
    pub(crate) quota: Option<String>,
}

impl Answer {
    pub(crate) fn of<B>(response: &http::Response<B>) -> Self {
        let rejection = response.extensions().get::<Rejection>();
        Self {
            status: response.status(),
            error_code: rejection.map(|rejection| rejection.code().as_str()),
            cache: response.headers().get("cache-status").cloned(),
            invalid_token: response
                .headers()
                .get_all(http::header::WWW_AUTHENTICATE)
                .iter()
                .any(|value| value.as_bytes().windows(13).any(|w| w == b"invalid_token")),
            quota: rejection
                .and_then(Rejection::details)
                .and_then(|details| details.get("quota"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
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
        super::metrics::started();
        Self {
            span,
            request_id,
            method,
            path,
            peer,
            facts,
            started: Instant::now(),
            answer: None,
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
        let client = facts.client().or(peer.as_deref()).unwrap_or("-");
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
        super::metrics::finished(&super::metrics::Finished {
            operation: facts.operation(),
            status,
            error_code,
            invalid_token: self.answer.as_ref().is_some_and(|a| a.invalid_token),
            rule: facts.rule(),
            quota: self.answer.as_ref().and_then(|a| a.quota.as_deref()),
            cache,
            bytes,
            duration,
        });
        let duration_ms = duration.as_secs_f64() * 1000.0;
        tracing::info!(
            target: "mcp_bastion::access",
            parent: &self.span,
            request_id = self.request_id.to_str().unwrap_or("-"),
            client,
            principal = facts.principal().unwrap_or("-"),
            http.request.method = %self.method,
            url.path = %self.path,
            mcp.method.name = &*printable(facts.operation().unwrap_or("-")),
            target = &*printable(facts.target().unwrap_or("-")),
            rule = facts.rule().unwrap_or("-"),
            status,
            error.code = error_code.unwrap_or("-"),
            cache = cache.unwrap_or("-"),
            quota = self.answer.as_ref().and_then(|a| a.quota.as_deref()).unwrap_or("-"),
            bytes,
            duration_ms,
            ending = ?ending,
            "request"
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

/// Longest caller-chosen text (a method name, a resource URI) the access log quotes.
const MAX_LOGGED_LEN: usize = 256;

/// Caller-chosen text as the log may quote it: control characters replaced (no forged
/// lines in a text log, no terminal escapes) and cut at [`MAX_LOGGED_LEN`] bytes.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let clean = text.len() <= MAX_LOGGED_LEN && !text.chars().any(char::is_control);
    if clean {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if out.len() > MAX_LOGGED_LEN {
        let mut end = MAX_LOGGED_LEN;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn caller_text_cannot_forge_lines_or_flood_the_log() {
        assert_eq!(printable("resources/read"), "resources/read");
        assert_eq!(
            printable("a\nfake line\u{1b}[31m"),
            "a\u{fffd}fake line\u{fffd}[31m"
        );
        let long = "é".repeat(300);
        let cut = printable(&long);
        assert!(cut.len() <= 256 + '…'.len_utf8() && cut.ends_with('…'));
    }
}
