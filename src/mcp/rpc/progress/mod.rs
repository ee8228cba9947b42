//! A slow 2025-era `resources/read` answered as server-sent events: `notifications/progress`
//! messages while the context is generated, then the read's response, then the end.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::Facts;
use super::read::answer_read;
use crate::context::{CacheHint, CacheScope, ContextId, LabelCheck};
use crate::mcp::generation::{Fetched, Follow, Unready};
use crate::mcp::protocol::Era;
use crate::mcp::response_body::ResponseBody;
use crate::mcp::rpc::RpcCall;
use crate::mcp::select::Prepared;

/// What the message of each progress notification says.
const PROGRESS_MESSAGE: &str = "the resource is being generated";

/// A pending read to follow.
pub(in crate::mcp) struct Following {
    pub(in crate::mcp) follow: Follow,
    pub(in crate::mcp) uri: String,
    pub(in crate::mcp) id: ContextId,
    /// `params._meta.progressToken`, echoed in every notification.
    pub(in crate::mcp) token: Value,
    /// The read's selection, applied to the context when it is ready.
    pub(in crate::mcp) selection: Prepared,
}

/// The longest string progress token echoed in notifications; a read with a longer one gets
/// the pending result (every notification repeats the token, so a huge one would multiply
/// what the request sent).
const MAX_TOKEN_BYTES: usize = 256;

/// The call's `params._meta.progressToken`, when it is one (a string of at most
/// [`MAX_TOKEN_BYTES`] or an integer).
pub(super) fn token(call: &RpcCall) -> Option<Value> {
    let token = call.params.get("_meta")?.get("progressToken")?;
    let usable = match token {
        Value::String(text) => text.len() <= MAX_TOKEN_BYTES,
        Value::Number(number) => number.is_i64() || number.is_u64(),
        _ => false,
    };
    usable.then(|| token.clone())
}

/// The event stream answering the read `rpc_id`: a progress notification at once and every
/// `progress_every`, the final response once the job answers (checked with `check` against
/// the context's labels first) or, at `max_stream`, the pending result.
pub(super) fn respond(
    following: Following,
    rpc_id: Value,
    check: Option<LabelCheck>,
    request_id: Option<&str>,
) -> Response<ResponseBody> {
    let settings = following.follow.settings();
    let now = Instant::now();
    let state = State {
        every: settings.progress_every,
        next: now + settings.progress_every,
        until: now + settings.max_stream,
        retry_after: settings.retry_after,
        following,
        rpc_id,
        check,
        request_id: request_id.map(str::to_owned),
        sent: 0,
        done: false,
    };
    let events = futures_util::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        if state.sent == 0 {
            state.sent = 1;
            let event = state.progress();
            return Some((event, state));
        }
        let event = match state
            .following
            .follow
            .wait(state.next.min(state.until))
            .await
        {
            Some(fetched) => state.last(fetched),
            None if Instant::now() >= state.until => {
                let pending = Err(Unready::Pending(state.retry_after));
                state.last(pending)
            }
            None => {
                state.sent += 1;
                // From now, not from the last due time: a late wake-up never sends a burst.
                state.next = Instant::now() + state.every;
                state.progress()
            }
        };
        Some((event, state))
    });
    let mut response = Response::new(ResponseBody::stream(events));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.extensions_mut().insert(CacheHint {
        ttl: None,
        scope: CacheScope::NoStore,
    });
    *response.status_mut() = StatusCode::OK;
    response
}

struct State {
    following: Following,
    rpc_id: Value,
    check: Option<LabelCheck>,
    request_id: Option<String>,
    every: Duration,
    /// When the next notification is due.
    next: Instant,
    /// When the stream ends, ready or not.
    until: Instant,
    retry_after: Duration,
    /// Notifications sent.
    sent: u64,
    done: bool,
}

impl State {
    fn progress(&self) -> Bytes {
        event(&json!({
            "jsonrpc": "2.0",
            "method": "notifications/progress",
            "params": {
                "progressToken": self.following.token,
                "progress": self.sent,
                "message": PROGRESS_MESSAGE,
            },
        }))
    }

    /// The read's response: its result, or the error it ended with, or the refusal of the
    /// label check; the stream ends after it.
    fn last(&mut self, fetched: Fetched) -> Bytes {
        self.done = true;
        let mut facts = Facts::default();
        let Following {
            uri, id, selection, ..
        } = &self.following;
        let answer =
            answer_read(uri, id, Era::Legacy, selection, fetched, &mut facts).and_then(|result| {
                match self
                    .check
                    .as_ref()
                    .and_then(|check| check.refusal(&facts.labels))
                {
                    Some(refusal) => Err(refusal),
                    None => Ok(result),
                }
            });
        let request_id = self.request_id.as_deref();
        event(&match answer {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": self.rpc_id, "result": result.value }),
            Err(rejection) => rejection
                .with_json_rpc_id(self.rpc_id.clone())
                .json_rpc_body(request_id),
        })
    }
}

/// One server-sent event carrying `message`.
fn event(message: &Value) -> Bytes {
    let mut bytes = b"event: message\ndata: ".to_vec();
    // A `Value` always serializes; its JSON has no raw line break to split the event.
    bytes.extend(serde_json::to_vec(message).unwrap_or_default());
    bytes.extend_from_slice(b"\n\n");
    Bytes::from(bytes)
}

#[cfg(test)]
mod tests;
