//! [`ContextId`]: the validated name of a context.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Longest accepted context id, in bytes (after percent-decoding).
pub const MAX_CONTEXT_ID_LEN: usize = 512;

/// A validated context id such as `project-alpha/dependency-graph`.
///
/// Segments of `[A-Za-z0-9._~-]` joined by `/`; no empty, `.` or `..` segment; at most
/// [`MAX_CONTEXT_ID_LEN`] bytes. Every character is URI-unreserved, so an id is its own
/// percent-encoding and can be placed in a path or URI unchanged. Cloning is cheap.
///
/// ```
/// use mcp_bastion::context::ContextId;
///
/// let id = ContextId::parse("project-alpha/dependency-graph")?;
/// assert_eq!(id.segments().collect::<Vec<_>>(), ["project-alpha", "dependency-graph"]);
/// assert!(ContextId::parse("project-alpha/../secrets").is_err());
/// // Path input is percent-decoded exactly once, then validated.
/// assert!(ContextId::from_percent_encoded("a/%2e%2e/b").is_err());
/// assert_eq!(ContextId::from_percent_encoded("a%2Db")?.as_str(), "a-b");
/// # Ok::<(), mcp_bastion::context::InvalidContextId>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContextId(Arc<str>);

/// Why a string is not a valid [`ContextId`]; `Display` names the offending part.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidContextId {
    /// The id is empty.
    Empty,
    /// The id is longer than [`MAX_CONTEXT_ID_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Segment number `index` (from 1) is empty: a leading, trailing or doubled `/`.
    EmptySegment {
        /// Position of the segment, counting from 1.
        index: usize,
    },
    /// Segment number `index` is `.` or `..`.
    DotSegment {
        /// Position of the segment, counting from 1.
        index: usize,
    },
    /// A character outside `[A-Za-z0-9._~-]` and `/`.
    InvalidChar {
        /// The character.
        ch: char,
        /// Its byte offset in the (decoded) id.
        offset: usize,
    },
    /// A `%` not followed by two hex digits, or an encoding of invalid UTF-8.
    BadPercentEncoding {
        /// Byte offset of the `%` in the raw input (or 0 for invalid UTF-8).
        offset: usize,
    },
}

impl fmt::Display for InvalidContextId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("context id is empty"),
            Self::TooLong { len } => write!(
                f,
                "context id is {len} bytes long; the limit is {MAX_CONTEXT_ID_LEN}"
            ),
            Self::EmptySegment { index } => write!(
                f,
                "context id segment {index} is empty (leading, trailing or doubled '/')"
            ),
            Self::DotSegment { index } => {
                write!(f, "context id segment {index} is a '.' or '..' segment")
            }
            Self::InvalidChar { ch, offset } => write!(
                f,
                "context id has the character {ch:?} at byte {offset}; allowed are A-Z a-z 0-9 . _ ~ - and /"
            ),
            Self::BadPercentEncoding { offset } => {
                write!(f, "context id has a bad percent-encoding at byte {offset}")
            }
        }
    }
}

impl std::error::Error for InvalidContextId {}

const fn is_id_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'~' | b'-')
}

impl ContextId {
    /// Validates `raw` as an id, without any decoding.
    pub fn parse(raw: &str) -> Result<Self, InvalidContextId> {
        validate(raw)?;
        Ok(Self(Arc::from(raw)))
    }

    /// Percent-decodes `raw` exactly once, then validates the result.
    ///
    /// This is how ids arriving in URL paths and resource URIs are read, so `%2e%2e` is
    /// refused as `..` and `%252e` stays an invalid `%`.
    pub fn from_percent_encoded(raw: &str) -> Result<Self, InvalidContextId> {
        if !raw.contains('%') {
            return Self::parse(raw);
        }
        if let Some(offset) = bad_percent_offset(raw.as_bytes()) {
            return Err(InvalidContextId::BadPercentEncoding { offset });
        }
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| InvalidContextId::BadPercentEncoding { offset: 0 })?;
        Self::parse(&decoded)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `/`-separated segments.
    pub fn segments(&self) -> std::str::Split<'_, char> {
        self.0.split('/')
    }

    /// Whether the id starts with `prefix` (a plain string prefix).
    pub fn starts_with(&self, prefix: &str) -> bool {
        self.0.starts_with(prefix)
    }
}

fn validate(raw: &str) -> Result<(), InvalidContextId> {
    if raw.is_empty() {
        return Err(InvalidContextId::Empty);
    }
    if raw.len() > MAX_CONTEXT_ID_LEN {
        return Err(InvalidContextId::TooLong { len: raw.len() });
    }
    let mut offset = 0;
    for (position, segment) in raw.split('/').enumerate() {
        let index = position + 1;
        if segment.is_empty() {
            return Err(InvalidContextId::EmptySegment { index });
        }
        if segment == "." || segment == ".." {
            return Err(InvalidContextId::DotSegment { index });
        }
        if let Some(bad) = segment.bytes().position(|b| !is_id_char(b)) {
            let at = offset + bad;
            let ch = raw[at..].chars().next().unwrap_or('\u{fffd}');
            return Err(InvalidContextId::InvalidChar { ch, offset: at });
        }
        offset += segment.len() + 1;
    }
    Ok(())
}

/// The offset of the first `%` not followed by two hex digits.
pub(crate) fn bad_percent_offset(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let valid = bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if !valid {
                return Some(i);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

impl fmt::Display for ContextId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ContextId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl FromStr for ContextId {
    type Err = InvalidContextId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for ContextId {
    type Error = InvalidContextId;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl AsRef<str> for ContextId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for ContextId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for ContextId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_seed_ids() {
        for raw in [
            "project-alpha/dependency-graph",
            "public-docs/getting-started",
            "a",
            "A.b_c~d-e/f",
            "..a/b..",
        ] {
            assert_eq!(ContextId::parse(raw).unwrap().as_str(), raw);
        }
    }

    #[test]
    fn rejects_and_names_the_offending_part() {
        let cases = [
            ("", InvalidContextId::Empty),
            ("/a", InvalidContextId::EmptySegment { index: 1 }),
            ("a/", InvalidContextId::EmptySegment { index: 2 }),
            ("a//b", InvalidContextId::EmptySegment { index: 2 }),
            ("a/../b", InvalidContextId::DotSegment { index: 2 }),
            (".", InvalidContextId::DotSegment { index: 1 }),
            (
                "a/b c",
                InvalidContextId::InvalidChar { ch: ' ', offset: 3 },
            ),
            (
                "a\0",
                InvalidContextId::InvalidChar {
                    ch: '\0',
                    offset: 1,
                },
            ),
            (
                "ab/é",
                InvalidContextId::InvalidChar {
                    ch: 'é', offset: 3
                },
            ),
            ("a%2e", InvalidContextId::InvalidChar { ch: '%', offset: 1 }),
        ];
        for (raw, expected) in cases {
            assert_eq!(ContextId::parse(raw), Err(expected.clone()), "{raw:?}");
        }
        let long = "a".repeat(MAX_CONTEXT_ID_LEN + 1);
        assert_eq!(
            ContextId::parse(&long),
            Err(InvalidContextId::TooLong {
                len: MAX_CONTEXT_ID_LEN + 1
            })
        );
        assert!(ContextId::parse(&"a".repeat(MAX_CONTEXT_ID_LEN)).is_ok());
        let message = ContextId::parse("a/../b").unwrap_err().to_string();
        assert!(message.contains("segment 2"), "{message}");
    }

    #[test]
    fn decodes_exactly_once() {
        assert_eq!(
            ContextId::from_percent_encoded("a%2Fb").unwrap().as_str(),
            "a/b"
        );
        assert_eq!(
            ContextId::from_percent_encoded("%2e%2e/x"),
            Err(InvalidContextId::DotSegment { index: 1 })
        );
        assert_eq!(
            ContextId::from_percent_encoded("a/%2E"),
            Err(InvalidContextId::DotSegment { index: 2 })
        );
        // A doubly encoded dot stays a '%' after one decode and is refused.
        assert!(matches!(
            ContextId::from_percent_encoded("%252e%252e"),
            Err(InvalidContextId::InvalidChar { ch: '%', .. })
        ));
        assert_eq!(
            ContextId::from_percent_encoded("a%00"),
            Err(InvalidContextId::InvalidChar {
                ch: '\0',
                offset: 1
            })
        );
        assert_eq!(
            ContextId::from_percent_encoded("a%zz"),
            Err(InvalidContextId::BadPercentEncoding { offset: 1 })
        );
        assert_eq!(
            ContextId::from_percent_encoded("a%2"),
            Err(InvalidContextId::BadPercentEncoding { offset: 1 })
        );
        assert_eq!(
            ContextId::from_percent_encoded("%ff"),
            Err(InvalidContextId::BadPercentEncoding { offset: 0 })
        );
    }

    #[test]
    fn an_id_is_its_own_encoding() {
        let id = ContextId::parse("x.y/z~w").unwrap();
        assert_eq!(ContextId::from_percent_encoded(id.as_str()).unwrap(), id);
    }
}
