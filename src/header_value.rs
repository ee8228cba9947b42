//! Header values written from format arguments with one allocation: the text goes to a
//! buffer on the stack and is copied once into the value. Several layers write a
//! per-request header this way (`RateLimit`, `Cache-Control`), where `format!` then
//! `HeaderValue::try_from` costs two or three.

use std::fmt;
use std::io::{Cursor, Write};

use http::HeaderValue;

/// Longest text written on the stack; longer text takes the `format!` path.
const STACK_BYTES: usize = 192;

/// The value `args` writes, or `None` when that is not a valid header value.
pub(crate) fn formatted(args: fmt::Arguments<'_>) -> Option<HeaderValue> {
    let mut buffer = [0_u8; STACK_BYTES];
    let mut cursor = Cursor::new(&mut buffer[..]);
    if cursor.write_fmt(args).is_ok() {
        let length = usize::try_from(cursor.position()).ok()?;
        return HeaderValue::from_bytes(&buffer[..length]).ok();
    }
    HeaderValue::try_from(fmt::format(args)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_values_are_written_whole() {
        assert_eq!(
            formatted(format_args!("private, max-age={}", 30)).unwrap(),
            "private, max-age=30"
        );
        let long = "x".repeat(STACK_BYTES * 2);
        assert_eq!(
            formatted(format_args!("a{long}b")).unwrap(),
            format!("a{long}b").as_str()
        );
        assert_eq!(formatted(format_args!("")).unwrap(), "");
        // Not a header value: refused, on either path.
        assert!(formatted(format_args!("line\nbreak")).is_none());
        assert!(formatted(format_args!("{long}\n")).is_none());
    }
}
