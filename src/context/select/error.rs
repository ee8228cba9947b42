//! [`SelectError`]: why a selector was refused or could not be applied.

use std::fmt;

/// Why a selector was refused or could not be applied. Every variant is the client's to
/// fix, answered 400 (REST) or -32602 (MCP) with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectError {
    /// More JSON Pointers than allowed.
    TooManyPointers {
        /// The most allowed.
        max: usize,
    },
    /// A JSON Pointer is not valid RFC 6901 syntax (or too long).
    InvalidPointer {
        /// The pointer (shortened when long).
        pointer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A JSON Pointer names nothing in the context.
    UnknownPointer {
        /// The pointer.
        pointer: String,
    },
    /// Pagination asked for, but the selected value is not an array.
    NotAnArray {
        /// The pointer naming the value (empty: the whole document).
        pointer: String,
    },
    /// A text range is malformed.
    InvalidRange {
        /// The range as sent (shortened when long).
        range: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A range or page starts past the end of the content.
    PastTheEnd {
        /// What started past the end (`lines=90-`, `cursor`).
        what: String,
        /// How many bytes, lines or items there are.
        total: u64,
        /// `bytes`, `lines` or `items`.
        unit: &'static str,
    },
    /// `limit` is out of range.
    InvalidLimit {
        /// The largest allowed.
        max: usize,
    },
    /// Parts of the selector that cannot go together.
    Conflict(String),
    /// JSON Pointers or pagination on content that is not JSON.
    NotJson {
        /// The context's format.
        format: String,
    },
    /// The content says it is JSON but does not parse.
    InvalidJson,
    /// The selection would be larger than the context itself.
    LargerThanContext,
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyPointers { max } => {
                write!(f, "invalid select: at most {max} JSON Pointers per request")
            }
            Self::InvalidPointer { pointer, reason } => {
                write!(f, "invalid select {pointer:?}: {reason}")
            }
            Self::UnknownPointer { pointer } => {
                write!(
                    f,
                    "invalid select {pointer:?}: names nothing in this context"
                )
            }
            Self::NotAnArray { pointer } => write!(
                f,
                "invalid select {pointer:?}: limit and cursor page an array, and this is not one"
            ),
            Self::InvalidRange { range, reason } => {
                write!(f, "invalid select {range:?}: {reason}")
            }
            Self::PastTheEnd { what, total, unit } => write!(
                f,
                "invalid select {what:?}: starts past the end (there are {total} {unit})"
            ),
            Self::InvalidLimit { max } => {
                write!(f, "invalid limit: an integer from 1 to {max}")
            }
            Self::Conflict(reason) => write!(f, "invalid select: {reason}"),
            Self::NotJson { format } => write!(
                f,
                "invalid select: JSON Pointers and pages need JSON content, this context is {format:?} (a text range works on any content)"
            ),
            Self::InvalidJson => f.write_str(
                "invalid select: the context's content is not valid JSON; read it without select",
            ),
            Self::LargerThanContext => f.write_str(
                "invalid select: the selection would be larger than the context; read it whole",
            ),
        }
    }
}

impl std::error::Error for SelectError {}

impl SelectError {
    /// The selector part at fault, when one is (for `details` and JSON-RPC `data`).
    pub fn culprit(&self) -> Option<&str> {
        match self {
            Self::InvalidPointer { pointer, .. }
            | Self::UnknownPointer { pointer }
            | Self::NotAnArray { pointer } => Some(pointer),
            Self::InvalidRange { range, .. } => Some(range),
            Self::PastTheEnd { what, .. } => Some(what),
            _ => None,
        }
    }
}
