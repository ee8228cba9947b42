//! The one spelling of a path the policy decides on.
//!
//! Routers match the raw path and hand handlers its percent-decoded segments (axum's
//! `Path`), so `/users/%61dmin` reaches the handler of `/users/{name}` as `admin`. A policy
//! matching raw paths would let such a spelling past a rule for `/users/admin`; one matching
//! decoded paths would let `%2F` and `..` move a request across its rules' boundaries. So the
//! policy decides on the decoded path, and refuses the spellings whose decoding changes the
//! segments: an encoded `/` or `\`, a `.` or `..` segment (raw or encoded), control
//! characters, malformed percent-encoding or UTF-8.

use std::borrow::Cow;

use crate::context::bad_percent_offset;
use crate::error::Rejection;

/// `raw` (a request path) decoded once, or the refusal of a spelling that is not one path.
pub(crate) fn policy_path(raw: &str) -> Result<Cow<'_, str>, Rejection> {
    let dot_segment = |segment: &str| segment == "." || segment == "..";
    if !raw.contains('%') {
        return if raw.split('/').any(dot_segment) || raw.chars().any(char::is_control) {
            Err(refusal())
        } else {
            Ok(Cow::Borrowed(raw))
        };
    }
    if bad_percent_offset(raw.as_bytes()).is_some() {
        return Err(refusal());
    }
    let mut decoded = String::with_capacity(raw.len());
    for (i, segment) in raw.split('/').enumerate() {
        let segment = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| refusal())?;
        let changes_segments = segment
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
        if changes_segments || dot_segment(&segment) {
            return Err(refusal());
        }
        if i > 0 {
            decoded.push('/');
        }
        decoded.push_str(&segment);
    }
    Ok(Cow::Owned(decoded))
}

fn refusal() -> Rejection {
    Rejection::bad_request(
        "Bad Request: the path has an encoded separator, a dot segment, a control character or malformed percent-encoding",
    )
}

#[cfg(test)]
mod tests {
    use super::policy_path;

    #[test]
    fn plain_paths_pass_unchanged() {
        for path in ["/", "/whoami", "/users/admin", "/a/b.c/d..e", "/x/~y"] {
            assert_eq!(policy_path(path).unwrap(), path);
        }
    }

    #[test]
    fn escapes_are_decoded_once() {
        assert_eq!(policy_path("/users/%61dmin").unwrap(), "/users/admin");
        assert_eq!(policy_path("/a%20b").unwrap(), "/a b");
        // Decoded once: `%2561` is the three characters `%61`, not `a`.
        assert_eq!(policy_path("/users/%2561dmin").unwrap(), "/users/%61dmin");
        assert_eq!(policy_path("/caf%C3%A9").unwrap(), "/café");
    }

    #[test]
    fn spellings_that_move_across_segments_are_refused() {
        for path in [
            "/files/public/%2e%2e%2fsecret",
            "/files/public/..",
            "/files/./x",
            "/files/%2E/x",
            "/files/%2e%2E",
            "/a%2Fb",
            "/a%5cb",
            "/a%00b",
            "/a%0ab",
            "/a%zz",
            "/a%4",
            "/a%ff",
        ] {
            let refusal = policy_path(path).expect_err(path);
            assert_eq!(refusal.status(), 400, "{path}");
        }
    }
}
