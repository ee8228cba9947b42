//! Applying a [`Selector`] to a [`ContextEntry`].

use serde_json::{Map, Value};

use super::{PageSpec, SelectError, Selector, Target};
use crate::context::data::{Content, ContextData, ContextEntry, content_version};

/// What [`Selector::apply`] made of a context.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Selected {
    /// The context with the selected content and a version of its own (the source's
    /// version and the canonical selector), so it never shares an `ETag` with the whole.
    pub entry: ContextEntry,
    /// How many items the paged array holds, or bytes / lines the content has for a range.
    pub total: Option<u64>,
    /// Where the next page starts, when there is one.
    pub next_offset: Option<usize>,
}

/// Whether a context is JSON: its format is `json`, or its MIME type is `application/json`
/// or ends in `+json` (parameters ignored, case-insensitive).
pub fn is_json(data: &ContextData) -> bool {
    let mime = data.mime_type.split(';').next().unwrap_or("").trim();
    let mime = mime.to_ascii_lowercase();
    data.format.eq_ignore_ascii_case("json")
        || mime == "application/json"
        || mime.ends_with("+json")
}

impl Selector {
    /// The selection of `entry`: the content this selector picks out, with a version of
    /// its own. Errors name the pointer or range at fault.
    pub fn apply(&self, entry: &ContextEntry) -> Result<Selected, SelectError> {
        let (content, format, total, next_offset) = match &self.target {
            Target::Bytes { start, end } => {
                let (content, total) = bytes(&entry.data.content, *start, *end)?;
                (content, None, Some(total), None)
            }
            Target::Lines { start, end } => {
                let (content, total) = lines(&entry.data.content, *start, *end)?;
                (content, None, Some(total), None)
            }
            Target::Whole | Target::Pointers(_) => {
                let (text, total, next) = self.json(&entry.data)?;
                (Content::Text(text), Some("json"), total, next)
            }
        };
        if content.len() > entry.data.content.len().saturating_add(self.key_bytes()) {
            return Err(SelectError::LargerThanContext);
        }
        // Everything but the content, whose selection replaces it (the whole is not copied).
        let (format, mime_type) = match format {
            Some(format) => (format.to_owned(), "application/json".to_owned()),
            None => (entry.data.format.clone(), entry.data.mime_type.clone()),
        };
        let selected = ContextEntry {
            data: ContextData {
                kind: entry.data.kind.clone(),
                format,
                mime_type,
                content,
            },
            version: self.version_of(&entry.version),
            last_modified: entry.last_modified,
            cache: entry.cache,
            title: entry.title.clone(),
            description: entry.description.clone(),
            labels: entry.labels.clone(),
        };
        Ok(Selected {
            entry: selected,
            total,
            next_offset,
        })
    }

    /// What naming several pointers adds to a selection: the object keyed by them.
    fn key_bytes(&self) -> usize {
        match &self.target {
            Target::Pointers(pointers) if pointers.len() > 1 => pointers
                .iter()
                .map(|pointer| serde_json::to_string(pointer).map_or(0, |key| key.len() + 2))
                .sum::<usize>()
                .saturating_add(2),
            _ => 0,
        }
    }

    /// The version of this selection of a context at `version`: distinct per selector.
    pub fn version_of(&self, version: &str) -> String {
        let digest = content_version(self.canonical().as_bytes());
        format!("{version}.s{}", &digest[..16])
    }

    fn json(
        &self,
        data: &ContextData,
    ) -> Result<(String, Option<u64>, Option<usize>), SelectError> {
        if !is_json(data) {
            return Err(SelectError::NotJson {
                format: data.format.clone(),
            });
        }
        let pointers = match &self.target {
            Target::Pointers(pointers) => pointers.as_slice(),
            _ => &[],
        };
        // The whole document, unchanged: no need to parse or re-serialise it.
        if let (None, [only], Content::Text(text)) = (self.page, pointers, &data.content)
            && only.is_empty()
        {
            serde_json::from_str::<serde::de::IgnoredAny>(text)
                .map_err(|_| SelectError::InvalidJson)?;
            return Ok((text.clone(), None, None));
        }
        let mut document: Value = serde_json::from_slice(data.content.as_bytes())
            .map_err(|_| SelectError::InvalidJson)?;
        let mut total = None;
        let mut next = None;
        let selected = match pointers {
            [] | [_] => {
                let pointer = pointers.first().map_or("", String::as_str);
                let value = document
                    .pointer_mut(pointer)
                    .map(Value::take)
                    .ok_or_else(|| unknown(pointer))?;
                match self.page {
                    None => value,
                    Some(page) => {
                        let (items, len, following) = paged(value, pointer, page)?;
                        total = Some(len);
                        next = following;
                        items
                    }
                }
            }
            several => {
                let mut object = Map::new();
                for pointer in several {
                    let value = document.pointer(pointer).ok_or_else(|| unknown(pointer))?;
                    object.insert(pointer.clone(), value.clone());
                }
                Value::Object(object)
            }
        };
        let text = serde_json::to_string(&selected).map_err(|_| SelectError::InvalidJson)?;
        Ok((text, total, next))
    }
}

fn unknown(pointer: &str) -> SelectError {
    SelectError::UnknownPointer {
        pointer: super::shorten(pointer),
    }
}

/// One page of the array `value`: its items, the array's length, the next offset.
fn paged(
    value: Value,
    pointer: &str,
    page: PageSpec,
) -> Result<(Value, u64, Option<usize>), SelectError> {
    let Value::Array(mut items) = value else {
        return Err(SelectError::NotAnArray {
            pointer: super::shorten(pointer),
        });
    };
    let len = items.len();
    // An empty array has one (empty) first page; any other page starts at an item.
    if page.offset > 0 && page.offset >= len {
        return Err(SelectError::PastTheEnd {
            what: "cursor".to_owned(),
            total: len as u64,
            unit: "items",
        });
    }
    let end = page.offset.saturating_add(page.limit).min(len);
    items.truncate(end);
    let items: Vec<Value> = items.drain(page.offset..).collect();
    Ok((Value::Array(items), len as u64, (end < len).then_some(end)))
}

fn past_the_end(start: u64, end: Option<u64>, unit: &'static str, total: u64) -> SelectError {
    let end = end.map_or_else(String::new, |end| end.to_string());
    SelectError::PastTheEnd {
        what: format!("{unit}={start}-{end}"),
        total,
        unit,
    }
}

/// Bytes `start..=end` (cut to the content); text stays text when the range falls on
/// character boundaries.
fn bytes(content: &Content, start: u64, end: Option<u64>) -> Result<(Content, u64), SelectError> {
    let all = content.as_bytes();
    let total = all.len() as u64;
    if start >= total {
        return Err(past_the_end(start, end, "bytes", total));
    }
    // Both fit in usize: they are below the content's length.
    let from = usize::try_from(start).unwrap_or(usize::MAX);
    let to = end.map_or(all.len(), |end| {
        usize::try_from(end.saturating_add(1).min(total)).unwrap_or(all.len())
    });
    let content = match content {
        Content::Text(text) => match text.get(from..to) {
            Some(slice) => Content::Text(slice.to_owned()),
            None => {
                return Err(SelectError::InvalidRange {
                    range: format!("bytes={start}-{}", to - 1),
                    reason: "the range splits a UTF-8 character of this text".to_owned(),
                });
            }
        },
        Content::Binary(bytes) => Content::Binary(bytes.slice(from..to)),
    };
    Ok((content, total))
}

/// Lines `start..=end` (1-based, cut to the content), each with its line break.
fn lines(content: &Content, start: u64, end: Option<u64>) -> Result<(Content, u64), SelectError> {
    let Content::Text(text) = content else {
        return Err(SelectError::InvalidRange {
            range: format!(
                "lines={start}-{}",
                end.map_or_else(String::new, |e| e.to_string())
            ),
            reason: "lines select from text; this context is binary (use bytes=)".to_owned(),
        });
    };
    let total = text.split_inclusive('\n').count() as u64;
    if start > total {
        return Err(past_the_end(start, end, "lines", total));
    }
    let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
    let take = end.map_or(usize::MAX, |end| {
        usize::try_from(end - start + 1).unwrap_or(usize::MAX)
    });
    let selected: String = text.split_inclusive('\n').skip(skip).take(take).collect();
    Ok((Content::Text(selected), total))
}
