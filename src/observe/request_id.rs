//! Request ids: a caller's `x-request-id` when it is well formed, else a new UUIDv7.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::facts::is_plain_name;

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest request id accepted from a caller (the limit of a plain name).
pub const MAX_REQUEST_ID_LEN: usize = crate::facts::MAX_PLAIN_NAME_LEN;

/// The caller's request id if it is 1 to 128 characters of `[A-Za-z0-9._-]` (a single
/// header), else a fresh UUIDv7 (time-ordered, so ids sort by arrival).
pub(crate) fn accept_or_make(headers: &HeaderMap) -> HeaderValue {
    let mut given = headers.get_all(X_REQUEST_ID).iter();
    match (given.next(), given.next()) {
        (Some(id), None) if is_plain_name(id.as_bytes()) => id.clone(),
        _ => make(),
    }
}

fn make() -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_REQUEST_ID, HeaderValue::from_bytes(value).unwrap());
        }
        headers
    }

    #[test]
    fn well_formed_ids_are_kept_others_replaced() {
        assert_eq!(accept_or_make(&with(&[b"abc-123_x.y"])), "abc-123_x.y");
        let long = "a".repeat(MAX_REQUEST_ID_LEN);
        assert_eq!(accept_or_make(&with(&[long.as_bytes()])), long.as_str());
        for bad in [
            "a".repeat(MAX_REQUEST_ID_LEN + 1).as_bytes(),
            b"has space",
            b"quote\"",
            b"semi;colon",
            b"caf\xc3\xa9",
        ] {
            let made = accept_or_make(&with(&[bad]));
            assert_ne!(made.as_bytes(), bad);
            let made = made.to_str().unwrap();
            assert_eq!(made.len(), 36, "{made}");
            assert_eq!(&made[14..15], "7", "UUIDv7: {made}");
        }
        // Two ids: which one? Neither.
        assert_eq!(accept_or_make(&with(&[b"one", b"two"])).len(), 36);
        assert_eq!(accept_or_make(&HeaderMap::new()).len(), 36);
        // Fresh ids differ.
        assert_ne!(
            accept_or_make(&HeaderMap::new()),
            accept_or_make(&HeaderMap::new())
        );
    }
}
