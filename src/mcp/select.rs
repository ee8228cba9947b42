//! The endpoint's side of selective retrieval: the selection a read asks for (REST query or
//! `resources/read` params, one parser each, shared with the cache's keys), its cursors, and
//! the read itself (the source call, then the projection unless the source selects itself).
//!
//! A cursor is the next page's offset and the context's version, sealed (see
//! [`cursor`](super::cursor)) for this context, this selector (without its offset) and this
//! caller: clients can neither read nor make one, nor use it for another selection. A cursor
//! of a context that changed since is refused, so pages never mix two versions.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::cursor::{self, CursorKeys};
use super::generation::{Crowd, Fetched, Unready};
use super::protocol::{META_CURSOR, META_LIMIT, META_SELECT};
use super::service::{Shared, source_call};
use super::wire::Selection;
use crate::context::{
    CacheScope, ContextEntry, ContextId, ContextSource, DEFAULT_SELECT_LIMIT, SelectError,
    SelectionSupport, Selector, SourceError, SourceRequest, Target, TraceContext,
};

/// A selection as a request asks for it: the selector, and the cursor still sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requested {
    selector: Selector,
    cursor: Option<String>,
}

/// Why a selected read failed: a bad selection (400 / -32602), or the source.
pub(crate) enum ReadFailure {
    Select {
        message: String,
        culprit: Option<String>,
        /// The labels of the context, when the source was read: the policy in front checks
        /// them on the refusal too, so that a caller the labels deny cannot probe the
        /// context's shape through which pointers are refused.
        labels: BTreeSet<String>,
    },
    /// The source failed (shared: one failed generation may answer several readers).
    Source(Arc<SourceError>),
    /// Asynchronous generation: still being generated, come back after this long.
    Pending(Duration),
    /// Asynchronous generation: the job table is full, retry after this long.
    Busy(Duration, Crowd),
}

impl From<SelectError> for ReadFailure {
    fn from(err: SelectError) -> Self {
        Self::Select {
            culprit: err.culprit().map(str::to_owned),
            message: err.to_string(),
            labels: BTreeSet::new(),
        }
    }
}

impl ReadFailure {
    fn cursor(message: &str) -> Self {
        Self::Select {
            message: format!("invalid cursor: {message}"),
            culprit: Some("cursor".to_owned()),
            labels: BTreeSet::new(),
        }
    }

    fn labelled(mut self, context: &ContextEntry) -> Self {
        if let Self::Select { labels, .. } = &mut self {
            labels.clone_from(&context.labels);
        }
        self
    }
}

impl Requested {
    fn new(
        select: Vec<&str>,
        limit: Option<u64>,
        cursor: Option<String>,
    ) -> Result<Option<Self>, SelectError> {
        // A cursor alone pages the whole document with the default page size.
        let limit = limit.or_else(|| cursor.as_ref().map(|_| DEFAULT_SELECT_LIMIT as u64));
        Ok(Selector::parse(select, limit)?.map(|selector| Self { selector, cursor }))
    }

    /// What keys a cached answer to this selection: equal for equal selections however
    /// they were written.
    fn key(requested: Option<&Self>) -> String {
        requested.map_or_else(String::new, |requested| {
            let cursor = requested.cursor.as_deref().unwrap_or("");
            format!("{}#{cursor}", requested.selector.canonical())
        })
    }
}

/// The part of a cache key that tells a REST read's selection apart: the same for every
/// spelling of one selection (pointer order, duplicates); `None` when the endpoint refuses
/// the query (nothing to cache).
pub(crate) fn rest_key(query: Option<&str>) -> Option<String> {
    let requested = super::rest::read_selection(query).ok()?;
    Some(Requested::key(requested.as_ref()))
}

/// As [`rest_key`], for the params of a `resources/read`.
pub(crate) fn rpc_key(params: &Map<String, Value>) -> Option<String> {
    let requested = from_params(params).ok()?;
    Some(Requested::key(requested.as_ref()))
}

/// The selection of a REST read: `select` (repeatable), `limit`, `cursor`, each already
/// percent-decoded; nothing else is allowed in the query.
pub(crate) fn from_query(pairs: &[(&str, String)]) -> Result<Option<Requested>, SelectError> {
    let mut select = Vec::new();
    let (mut limit, mut cursor) = (None, None);
    for (name, value) in pairs {
        match *name {
            "select" => select.push(value.as_str()),
            "limit" => limit = Some(parse_limit(value)?),
            _ => cursor = Some(value.clone()),
        }
    }
    Requested::new(select, limit, cursor)
}

fn parse_limit(raw: &str) -> Result<u64, SelectError> {
    let invalid = SelectError::InvalidLimit {
        max: crate::context::MAX_SELECT_LIMIT,
    };
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid);
    }
    raw.parse().map_err(|_| invalid)
}

/// The selection of a `resources/read`: `select` (a string or an array of strings),
/// `limit` and `cursor` in its params, or under `io.github.mcp-bastion/…` in its `_meta`;
/// each in one place only (`null` counts as absent).
pub(crate) fn from_params(params: &Map<String, Value>) -> Result<Option<Requested>, SelectError> {
    let meta = params.get("_meta").and_then(Value::as_object);
    let field = |name: &str, meta_key: &str| -> Result<Option<&Value>, SelectError> {
        // `null` is no value, as for a listing's cursor.
        fn given(value: Option<&Value>) -> Option<&Value> {
            value.filter(|value| !value.is_null())
        }
        match (
            given(params.get(name)),
            given(meta.and_then(|meta| meta.get(meta_key))),
        ) {
            (Some(_), Some(_)) => Err(SelectError::Conflict(format!(
                "{name} is given both in params and in _meta {meta_key:?}"
            ))),
            (one, other) => Ok(one.or(other)),
        }
    };
    let conflict = |message: &str| SelectError::Conflict(message.to_owned());
    let select = match field("select", META_SELECT)? {
        None => Vec::new(),
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => {
            if many.len() > crate::context::MAX_POINTERS {
                return Err(SelectError::TooManyPointers {
                    max: crate::context::MAX_POINTERS,
                });
            }
            many.iter()
                .map(|value| {
                    value
                        .as_str()
                        .ok_or_else(|| conflict("select is a string or an array of strings"))
                })
                .collect::<Result<_, _>>()?
        }
        Some(_) => return Err(conflict("select is a string or an array of strings")),
    };
    let limit = match field("limit", META_LIMIT)? {
        None => None,
        Some(limit) => Some(limit.as_u64().ok_or(SelectError::InvalidLimit {
            max: crate::context::MAX_SELECT_LIMIT,
        })?),
    };
    let cursor = match field("cursor", META_CURSOR)? {
        None => None,
        Some(Value::String(cursor)) => Some(cursor.clone()),
        Some(_) => return Err(conflict("cursor is a string")),
    };
    Requested::new(select, limit, cursor)
}

/// A read answered: the context to send (selected, or whole) and what was selected.
pub(crate) struct Read {
    pub(crate) entry: Arc<ContextEntry>,
    pub(crate) selection: Option<Selection>,
}

/// Reads `id` from the source with the selection `requested` and projects it (unless the
/// source selects itself).
pub(crate) async fn read<S: ContextSource>(
    shared: &Shared<S>,
    id: &ContextId,
    requested: Option<Requested>,
    mut request: SourceRequest,
    from_meta: Option<TraceContext>,
) -> Result<Read, ReadFailure> {
    let prepared = prepare(shared, id, requested.as_ref(), &mut request)?;
    let call = source_call(
        "get",
        &mut request.trace,
        from_meta,
        request.request_span.as_ref(),
    );
    let fetched = shared.fetch(id, request, call).await;
    finish(&prepared, fetched)
}

/// A selection ready to apply once the context is read: the selector (resumed at its
/// cursor), the scope its cursors are sealed for, and the version a cursor was issued at.
/// Holds what applying it needs (the cursor keys, who selects), so that a read answered
/// later (a progress stream's last event) applies it without the endpoint.
#[derive(Clone)]
pub(crate) struct Prepared {
    selector: Option<Selector>,
    scope: String,
    opened: Option<String>,
    keys: CursorKeys,
    support: SelectionSupport,
}

/// Opens the cursor of `requested` and puts the selection in `request` for the source.
pub(crate) fn prepare<S: ContextSource>(
    shared: &Shared<S>,
    id: &ContextId,
    requested: Option<&Requested>,
    request: &mut SourceRequest,
) -> Result<Prepared, ReadFailure> {
    let keys = shared.endpoint.cursor_keys.clone();
    let support = shared.source.selection();
    let Some(requested) = requested else {
        return Ok(Prepared {
            selector: None,
            scope: String::new(),
            opened: None,
            keys,
            support,
        });
    };
    let scope = cursor::scope(
        &format!("select:{}", id.as_str()),
        request.principal.as_deref(),
        Some(&requested.selector.scope()),
    );
    let mut selector = requested.selector.clone();
    let mut opened = None;
    if let Some(token) = &requested.cursor {
        let position = shared
            .endpoint
            .cursor_keys
            .open(&scope, token)
            .ok_or_else(|| ReadFailure::cursor("not one this server issued for this selection"))?;
        let (offset, version) = position
            .split_once(':')
            .and_then(|(offset, version)| Some((offset.parse::<usize>().ok()?, version)))
            .ok_or_else(|| ReadFailure::cursor("not one this server issued"))?;
        selector = selector.resume_at(offset)?;
        opened = Some(version.to_owned());
    }
    request.selection = Some(selector.clone());
    Ok(Prepared {
        selector: Some(selector),
        scope,
        opened,
        keys,
        support,
    })
}

/// Applies `prepared` to what the read `fetched`.
pub(crate) fn finish(prepared: &Prepared, fetched: Fetched) -> Result<Read, ReadFailure> {
    let entry = match fetched {
        Ok(entry) => entry,
        Err(Unready::Pending(after)) => return Err(ReadFailure::Pending(after)),
        Err(Unready::Busy(after, crowd)) => return Err(ReadFailure::Busy(after, crowd)),
        Err(Unready::Failed(err)) => return Err(ReadFailure::Source(err)),
    };
    let Some(selector) = &prepared.selector else {
        return Ok(Read {
            entry,
            selection: None,
        });
    };
    let resumed = prepared.opened.is_some();
    if prepared
        .opened
        .as_ref()
        .is_some_and(|version| *version != entry.version)
    {
        return Err(ReadFailure::cursor(
            "the context changed since this cursor was issued; start again without one",
        )
        .labelled(&entry));
    }
    let (selected, total, next_offset) = if prepared.support == SelectionSupport::Source {
        let mut selected = ContextEntry::clone(&entry);
        selected.version = selector.version_of(&entry.version);
        (selected, None, None)
    } else {
        let selected = selector
            .apply(&entry)
            .map_err(|err| ReadFailure::from(err).labelled(&entry))?;
        (selected.entry, selected.total, selected.next_offset)
    };
    let next_cursor = next_offset.and_then(|next| {
        prepared
            .keys
            .seal(&prepared.scope, &format!("{next}:{}", entry.version))
    });
    // A cursor is sealed for its caller: a page reached by one, or handing one out, is that
    // caller's, never an answer a shared cache may give everyone.
    let mut selected = selected;
    if (resumed || next_cursor.is_some()) && selected.cache.scope == CacheScope::Public {
        selected.cache.scope = CacheScope::Private;
    }
    let select = match selector.target() {
        Target::Pointers(pointers) => pointers.clone(),
        Target::Bytes { start, end } => vec![range("bytes", *start, *end)],
        Target::Lines { start, end } => vec![range("lines", *start, *end)],
        _ => Vec::new(),
    };
    Ok(Read {
        entry: Arc::new(selected),
        selection: Some(Selection {
            select,
            limit: selector.page().map(|page| page.limit),
            total,
            next_cursor,
        }),
    })
}

fn range(unit: &str, start: u64, end: Option<u64>) -> String {
    let end = end.map_or_else(String::new, |end| end.to_string());
    format!("{unit}={start}-{end}")
}

#[cfg(test)]
mod tests;
