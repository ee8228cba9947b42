//! Conditional requests (RFC 9110 §13): whether a client's copy is still current. The one
//! rule the endpoint and the cache both answer 304 by.

use http::{HeaderMap, HeaderValue, header};

/// Whether a `GET`/`HEAD` carrying `headers` may be answered 304 for a representation with
/// this `ETag` and `Last-Modified`. `If-None-Match` decides when present (weak comparison);
/// `If-Modified-Since` only without it. Values that cannot be read are ignored.
pub(crate) fn not_modified(
    headers: &HeaderMap,
    etag: Option<&HeaderValue>,
    last_modified: Option<&HeaderValue>,
) -> bool {
    let mut tags = headers.get_all(header::IF_NONE_MATCH).iter().peekable();
    if tags.peek().is_some() {
        let Some(current) = etag.map(HeaderValue::as_bytes) else {
            return false;
        };
        return tags.any(|value| {
            value.as_bytes().split(|b| *b == b',').any(|candidate| {
                let candidate = candidate.trim_ascii();
                let candidate = candidate.strip_prefix(b"W/").unwrap_or(candidate);
                candidate == b"*" || candidate == current
            })
        });
    }
    let (Some(since), Some(modified)) = (headers.get(header::IF_MODIFIED_SINCE), last_modified)
    else {
        return false;
    };
    match (http_date(since), http_date(modified)) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), when it is one.
fn http_date(value: &HeaderValue) -> Option<jiff::Timestamp> {
    let text = value.to_str().ok()?;
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(text)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.parse().unwrap(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn etags_decide_then_dates() {
        let etag = HeaderValue::from_static("\"v1\"");
        let modified = HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT");
        let check = |pairs| not_modified(&headers(pairs), Some(&etag), Some(&modified));
        assert!(check(&[("if-none-match", "\"v1\"")]));
        assert!(check(&[("if-none-match", "\"x\", W/\"v1\"")]));
        assert!(check(&[("if-none-match", "*")]));
        assert!(!check(&[("if-none-match", "\"v2\"")]));
        // If-None-Match wins over a date that would say "not modified".
        assert!(!check(&[
            ("if-none-match", "\"v2\""),
            ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]));
        assert!(check(&[(
            "if-modified-since",
            "Sun, 06 Nov 1994 08:49:37 GMT"
        )]));
        assert!(check(&[(
            "if-modified-since",
            "Mon, 07 Nov 1994 08:49:37 GMT"
        )]));
        assert!(!check(&[(
            "if-modified-since",
            "Sat, 05 Nov 1994 08:49:37 GMT"
        )]));
        // Garbage is ignored.
        assert!(!check(&[("if-modified-since", "yesterday")]));
        assert!(!check(&[]));
    }
}
