//! Selective retrieval: the [`Selector`] a client sends with a read (REST `?select=`,
//! `limit`, `cursor`; MCP `resources/read` `select`, `limit`, `cursor`) and its projection
//! of a [`ContextEntry`](super::ContextEntry).

mod error;
mod project;

use std::fmt;

pub use error::SelectError;
pub use project::{Selected, is_json};

/// Most JSON Pointers one selector may hold.
pub const MAX_POINTERS: usize = 16;
/// Longest JSON Pointer accepted, in bytes.
pub const MAX_POINTER_LEN: usize = 512;
/// Largest page of an array.
pub const MAX_SELECT_LIMIT: usize = 1000;
/// The page size when a cursor comes without a `limit`.
pub const DEFAULT_SELECT_LIMIT: usize = 100;

/// Who applies a selector: the crate (the default) or the source itself.
///
/// A source that can select better than by projecting its whole content (a database, a
/// search index) returns [`SelectionSupport::Source`] from
/// [`ContextSource::selection`](super::ContextSource::selection); it then finds the parsed
/// selector in [`SourceRequest::selection`](super::SourceRequest::selection) and returns
/// exactly the selected content, which the endpoint sends as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SelectionSupport {
    /// The endpoint projects the whole context the source returns.
    #[default]
    Crate,
    /// The source applies the selector itself.
    Source,
}

/// What a selector picks out of a context.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// The whole document (only pagination was asked for).
    Whole,
    /// These JSON Pointers, validated, sorted and without duplicates.
    Pointers(Vec<String>),
    /// Bytes `start..=end` (0-based); `None`: to the end.
    Bytes {
        /// The first byte.
        start: u64,
        /// The last byte, inclusive.
        end: Option<u64>,
    },
    /// Lines `start..=end` (1-based); `None`: to the end.
    Lines {
        /// The first line.
        start: u64,
        /// The last line, inclusive.
        end: Option<u64>,
    },
}

/// One page of an array: `limit` items from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageSpec {
    /// At most this many items (1 to [`MAX_SELECT_LIMIT`]).
    pub limit: usize,
    /// The first item (0 for the first page).
    pub offset: usize,
}

/// A parsed, validated selector.
///
/// A selector is one of:
/// - up to [`MAX_POINTERS`] RFC 6901 JSON Pointers (`/nodes`, `/builds/0/status`; the empty
///   pointer is the whole document), each at most [`MAX_POINTER_LEN`] bytes. One pointer
///   answers the value it names; several answer a JSON object keyed by pointer. Pointers are
///   kept sorted and without duplicates, so the order they were sent in never matters.
/// - one text range: `bytes=A-B` (0-based, inclusive, as in HTTP `Range`) or `lines=A-B`
///   (1-based, inclusive); `B` may be left out for "to the end". An end past the content is
///   cut to it; a start past it is refused.
/// - pagination of a JSON array (the one pointer's value, or the whole document without a
///   pointer): `limit` items (1 to [`MAX_SELECT_LIMIT`]) from an offset the endpoint takes
///   from an opaque cursor.
///
/// Pointers and pagination need JSON content ([`is_json`]); ranges apply to any content.
/// A selection is never larger than the context it selects from (plus, for several
/// pointers, the keys naming them): overlapping pointers cannot amplify a read.
///
/// ```
/// use mcp_bastion::context::{ContextEntry, Selector};
///
/// let entry = ContextEntry::text("graph", "json", r#"{"nodes":[1,2,3],"edges":[]}"#);
/// let selector = Selector::parse(["/nodes"], None)?.expect("a selection");
/// let selected = selector.apply(&entry)?;
/// assert_eq!(selected.entry.data.content.as_text(), Some("[1,2,3]"));
/// assert_ne!(selected.entry.version, entry.version);
///
/// let page = Selector::parse(["/nodes"], Some(2))?.expect("a selection").apply(&entry)?;
/// assert_eq!(page.entry.data.content.as_text(), Some("[1,2]"));
/// assert_eq!((page.total, page.next_offset), (Some(3), Some(2)));
/// # Ok::<(), mcp_bastion::context::SelectError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    target: Target,
    page: Option<PageSpec>,
}

impl Selector {
    /// Parses the `select` values of a request and its `limit`; `Ok(None)` when neither
    /// is given. Errors name the value at fault.
    ///
    /// ```
    /// use mcp_bastion::context::{Selector, Target};
    ///
    /// let selector = Selector::parse(["/b", "/a", "/b"], None)?.unwrap();
    /// assert_eq!(selector.target(), &Target::Pointers(vec!["/a".into(), "/b".into()]));
    /// assert!(Selector::parse(["lines=3-7"], None)?.is_some());
    /// assert!(Selector::parse(["nodes"], None).is_err());
    /// assert_eq!(Selector::parse(Vec::<&str>::new(), None)?, None);
    /// # Ok::<(), mcp_bastion::context::SelectError>(())
    /// ```
    pub fn parse<'a, I>(select: I, limit: Option<u64>) -> Result<Option<Self>, SelectError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut pointers: Vec<String> = Vec::new();
        let mut range = None;
        for value in select {
            if value.starts_with('/') || value.is_empty() {
                if pointers.len() >= MAX_POINTERS {
                    return Err(SelectError::TooManyPointers { max: MAX_POINTERS });
                }
                check_pointer(value)?;
                pointers.push(value.to_owned());
            } else if let Some(parsed) = parse_range(value)? {
                if range.is_some() {
                    return Err(SelectError::Conflict(
                        "only one text range may be selected".into(),
                    ));
                }
                range = Some(parsed);
            } else {
                return Err(SelectError::InvalidPointer {
                    pointer: value.to_owned(),
                    reason: "a JSON Pointer starts with \"/\" (or is empty); a text range is \
                             bytes=A-B or lines=A-B"
                        .into(),
                });
            }
        }
        let page = match limit {
            None => None,
            Some(limit) => Some(PageSpec {
                limit: usize::try_from(limit)
                    .ok()
                    .filter(|n| (1..=MAX_SELECT_LIMIT).contains(n))
                    .ok_or(SelectError::InvalidLimit {
                        max: MAX_SELECT_LIMIT,
                    })?,
                offset: 0,
            }),
        };
        pointers.sort_unstable();
        pointers.dedup();
        let target = match (range, pointers.is_empty()) {
            (Some(_), false) => {
                return Err(SelectError::Conflict(
                    "JSON Pointers and a text range cannot be selected together".into(),
                ));
            }
            (Some(range), true) => range,
            (None, false) => Target::Pointers(pointers),
            (None, true) if page.is_some() => Target::Whole,
            (None, true) => return Ok(None),
        };
        Self::new(target, page).map(Some)
    }

    fn new(target: Target, page: Option<PageSpec>) -> Result<Self, SelectError> {
        if page.is_some() {
            match &target {
                Target::Bytes { .. } | Target::Lines { .. } => {
                    return Err(SelectError::Conflict(
                        "limit and cursor page a JSON array, not a text range".into(),
                    ));
                }
                Target::Pointers(pointers) if pointers.len() > 1 => {
                    return Err(SelectError::Conflict(
                        "limit and cursor page one array: select one JSON Pointer".into(),
                    ));
                }
                _ => {}
            }
        }
        Ok(Self { target, page })
    }

    /// What is selected.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The page of an array asked for, when the request pages.
    pub fn page(&self) -> Option<PageSpec> {
        self.page
    }

    /// This selector from the item `offset` of its array on (what a cursor resumes at);
    /// a selector that did not page pages now with [`DEFAULT_SELECT_LIMIT`] items. Refused
    /// for text ranges and several pointers.
    pub fn resume_at(self, offset: usize) -> Result<Self, SelectError> {
        let limit = self.page.map_or(DEFAULT_SELECT_LIMIT, |page| page.limit);
        Self::new(self.target, Some(PageSpec { limit, offset }))
    }

    /// The canonical text of this selector: equal selectors, however they were written,
    /// have the same one. Versions, ETags and cache keys of selected answers derive from it.
    pub fn canonical(&self) -> String {
        self.to_string()
    }

    /// The canonical text of what is selected, without the page: what stays the same from
    /// page to page (a cursor resumes under another page size too).
    pub(crate) fn scope(&self) -> String {
        Self {
            target: self.target.clone(),
            page: None,
        }
        .to_string()
    }
}

/// The canonical text: a JSON object, so no pointer can spell another selector.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            Target::Whole => serde_json::Value::Null,
            Target::Pointers(pointers) => serde_json::json!(pointers),
            Target::Bytes { start, end } => serde_json::json!(["bytes", start, end]),
            Target::Lines { start, end } => serde_json::json!(["lines", start, end]),
        };
        let page = self
            .page
            .map(|page| serde_json::json!([page.limit, page.offset]));
        write!(f, "{}", serde_json::json!([target, page]))
    }
}

/// Checks a JSON Pointer's syntax (RFC 6901 §3): empty, or `/`-prefixed reference tokens in
/// which `~` is only `~0` or `~1`.
fn check_pointer(pointer: &str) -> Result<(), SelectError> {
    let invalid = |reason: &str| SelectError::InvalidPointer {
        pointer: shorten(pointer),
        reason: reason.to_owned(),
    };
    if pointer.len() > MAX_POINTER_LEN {
        return Err(invalid(&format!(
            "a JSON Pointer is at most {MAX_POINTER_LEN} bytes"
        )));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(invalid(
                "\"~\" must be followed by 0 or 1 (~0 is ~, ~1 is /)",
            ));
        }
    }
    Ok(())
}

/// A value short enough to quote back in an error.
pub(crate) fn shorten(value: &str) -> String {
    const MAX: usize = 64;
    if value.len() <= MAX {
        return value.to_owned();
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}

/// `bytes=A-B` or `lines=A-B` (`B` optional); `Ok(None)` when `value` is neither form.
fn parse_range(value: &str) -> Result<Option<Target>, SelectError> {
    let (unit, spec) = if let Some(spec) = value.strip_prefix("bytes=") {
        ("bytes", spec)
    } else if let Some(spec) = value.strip_prefix("lines=") {
        ("lines", spec)
    } else {
        return Ok(None);
    };
    let invalid = |reason: &str| SelectError::InvalidRange {
        range: shorten(value),
        reason: reason.to_owned(),
    };
    let number = |digits: &str| {
        if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("A and B are decimal numbers"));
        }
        digits
            .parse::<u64>()
            .map_err(|_| invalid("A and B are decimal numbers"))
    };
    let (start, end) = spec
        .split_once('-')
        .ok_or_else(|| invalid("the form is A-B or A-"))?;
    let start = number(start)?;
    let end = if end.is_empty() {
        None
    } else {
        Some(number(end)?)
    };
    if end.is_some_and(|end| end < start) {
        return Err(invalid("the end comes before the start"));
    }
    Ok(Some(if unit == "bytes" {
        Target::Bytes { start, end }
    } else {
        if start == 0 {
            return Err(invalid("lines are numbered from 1"));
        }
        Target::Lines { start, end }
    }))
}

#[cfg(test)]
mod tests;
