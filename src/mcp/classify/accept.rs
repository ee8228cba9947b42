//! The header rules of a POST to the MCP endpoint that hold in every protocol era: what the
//! client must accept and what it must send.

use http::StatusCode;
use http::header::{self, HeaderMap};
use serde_json::Value;

use super::rpc::rpc_rejection;
use crate::error::{Rejection, is_json_content_type, jsonrpc};

/// Checks the `Accept` and `Content-Type` headers of a POST to the MCP endpoint.
///
/// `Accept` must admit both `application/json` and `text/event-stream`; the body must be
/// `application/json`.
pub fn check_post_headers(headers: &HeaderMap) -> Result<(), Rejection> {
    let (json, sse) = accepted(headers);
    if !(json && sse) {
        return Err(rpc_rejection(
            StatusCode::NOT_ACCEPTABLE,
            Value::Null,
            jsonrpc::INVALID_REQUEST,
            "Not Acceptable: the Accept header must list application/json and text/event-stream",
            None,
        ));
    }
    if !is_json_content_type(headers, false) {
        return Err(rpc_rejection(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Value::Null,
            jsonrpc::INVALID_REQUEST,
            "Unsupported Media Type: the body must be application/json",
            None,
        ));
    }
    Ok(())
}

/// Whether `Accept` admits `application/json` and `text/event-stream`.
fn accepted(headers: &HeaderMap) -> (bool, bool) {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let media = range.split(';').next().unwrap_or("").trim();
            let is = |name: &str| media.eq_ignore_ascii_case(name);
            if is("*/*") {
                (json, sse) = (true, true);
            } else if is("application/json") || is("application/*") {
                json = true;
            } else if is("text/event-stream") || is("text/*") {
                sse = true;
            }
        }
    }
    (json, sse)
}

/// Whether the client accepts an answer as a server-sent event stream.
pub(crate) fn accepts_event_stream(headers: &HeaderMap) -> bool {
    accepted(headers).1
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn post_headers() {
        let ok = headers(&[
            ("accept", "application/json, text/event-stream"),
            ("content-type", "application/json; charset=utf-8"),
        ]);
        assert!(check_post_headers(&ok).is_ok());
        let any = headers(&[
            ("accept", "TEXT/Event-Stream;q=0.5, */*"),
            ("content-type", "application/json"),
        ]);
        assert!(check_post_headers(&any).is_ok());
        let json_only = headers(&[
            ("accept", "application/json"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(
            check_post_headers(&json_only).unwrap_err().status(),
            StatusCode::NOT_ACCEPTABLE
        );
        let none = headers(&[("content-type", "application/json")]);
        assert_eq!(
            check_post_headers(&none).unwrap_err().status(),
            StatusCode::NOT_ACCEPTABLE
        );
        let text = headers(&[
            ("accept", "application/json, text/event-stream"),
            ("content-type", "text/plain"),
        ]);
        assert_eq!(
            check_post_headers(&text).unwrap_err().status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    #[test]
    fn event_stream_accepted() {
        assert!(accepts_event_stream(&headers(&[("accept", "Text/*")])));
        assert!(!accepts_event_stream(&headers(&[(
            "accept",
            "application/json"
        )])));
        assert!(!accepts_event_stream(&headers(&[(
            "accept",
            "text/event-streams"
        )])));
    }
}
