//! Opaque pagination cursors: a source's own cursor, wrapped so clients cannot build or read
//! one (they may only hand back what they were given).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Longest cursor token accepted from a client.
const MAX_TOKEN_LEN: usize = 2048;

/// The token sent to clients for a source cursor.
pub(crate) fn encode(source_cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(source_cursor.as_bytes())
}

/// The source cursor inside a client's token, or `None` when the token is not one of ours.
pub(crate) fn decode(token: &str) -> Option<String> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        for cursor in ["a/b", "project-alpha/dependency-graph", "ü"] {
            assert_eq!(decode(&encode(cursor)).as_deref(), Some(cursor));
        }
        assert_eq!(decode("!!"), None);
        assert_eq!(decode(""), None);
        assert_eq!(decode(&"A".repeat(MAX_TOKEN_LEN + 4)), None);
        assert_eq!(decode("_w"), None); // decodes to invalid UTF-8
    }
}
