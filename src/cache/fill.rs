//! Turning the inner service's answer into an entry, when it may be stored.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::entry::{Entry, Shape};
use super::key::Lookup;
use super::layer::CacheShared;
use crate::context::{CacheHint, CacheScope, ContextLabels};
use crate::error::{BodyOrEnvelope, BoxError, FullBody, Rejection};

/// What became of an answer.
pub(crate) enum Filled<B> {
    /// Stored: answer from the entry.
    Stored(Arc<Entry>),
    /// Not stored: the answer as the inner service gave it (or rebuilt from its bytes).
    Passed(Response<BodyOrEnvelope<B>>),
}

/// A JSON-RPC answer, its result left unparsed.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

/// The members of a JSON-RPC error that tell "resource not found".
#[derive(Deserialize)]
struct ErrorShape {
    code: i64,
    #[serde(default)]
    message: String,
    data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    uri: Option<IgnoredAny>,
}

/// Whether a JSON-RPC error says the resource does not exist: -32002 (up to 2025-11-25),
/// or -32602 naming the URI as not found (2026-07-28).
fn is_not_found(error: &RawValue) -> bool {
    let Ok(error) = serde_json::from_str::<ErrorShape>(error.get()) else {
        return false;
    };
    error.code == crate::error::jsonrpc::RESOURCE_NOT_FOUND
        || (error.code == crate::error::jsonrpc::INVALID_PARAMS
            && error.data.is_some_and(|data| data.uri.is_some())
            && error.message.to_ascii_lowercase().contains("not found"))
}

/// The caching members of a result.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ResultHints {
    result_type: Option<String>,
    ttl_ms: Option<u64>,
    cache_scope: Option<String>,
}

/// Stores `response` for `lookup` when it may be, and says how to answer.
pub(crate) async fn fill<B>(
    shared: &CacheShared,
    lookup: &Lookup,
    owner: &str,
    response: Response<B>,
    generation: u64,
) -> Filled<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let settings = &shared.settings;
    let status = response.status();
    let rest = lookup.rpc_id.is_none();
    let not_found = rest && status == StatusCode::NOT_FOUND && settings.not_found_ttl.is_some();
    let limit = settings.max_entry_bytes;
    let fits = response
        .body()
        .size_hint()
        .upper()
        .is_some_and(|upper| upper <= limit as u64);
    if !(status == StatusCode::OK || not_found)
        || !fits
        || !is_json(response.headers())
        || no_store(response.headers())
    {
        return Filled::Passed(response.map(BodyOrEnvelope::inner));
    }
    let (parts, body) = response.into_parts();
    let Ok(collected) = Limited::new(body, limit).collect().await else {
        tracing::warn!("an answer could not be read for the cache");
        let failed = Rejection::new(
            crate::error::ErrorCode::BadGateway,
            "the answer could not be read",
        );
        return Filled::Passed(
            failed
                .into_response(crate::error::Dialect::Rest)
                .map(BodyOrEnvelope::envelope),
        );
    };
    let bytes = collected.to_bytes();
    let passed = |parts: http::response::Parts, bytes: Bytes| {
        Filled::Passed(Response::from_parts(
            parts,
            BodyOrEnvelope::envelope(FullBody::new(bytes)),
        ))
    };
    let hint = parts.extensions.get::<CacheHint>().copied();
    let (shape, stored, hint) = if rest {
        let hint = hint.or_else(|| header_hint(&parts.headers));
        (Shape::Rest, bytes.clone(), hint)
    } else {
        let Ok(answer) = serde_json::from_slice::<Answer<'_>>(&bytes) else {
            return passed(parts, bytes);
        };
        if let (None, Some(error)) = (answer.result, answer.error)
            && let Some(ttl) = settings.not_found_ttl
            && lookup.what.contains(":read:")
            && is_not_found(error)
        {
            let stored = Bytes::copy_from_slice(error.get().as_bytes());
            let hint = CacheHint {
                ttl: Some(ttl),
                scope: CacheScope::Private,
            };
            return store(
                shared,
                lookup,
                owner,
                &parts,
                status,
                Shape::RpcNotFound,
                stored,
                hint,
                ttl,
                generation,
            )
            .unwrap_or_else(|| passed(parts, bytes));
        }
        let (Some(result), None) = (answer.result, answer.error) else {
            return passed(parts, bytes); // errors are answers, never values
        };
        let hints: ResultHints = serde_json::from_str(result.get()).unwrap_or_default();
        // Only a complete result is a value: one that asks the client for input is one
        // exchange's, and one still being generated (`pending`) has nothing to keep.
        if hints
            .result_type
            .as_deref()
            .is_some_and(|kind| kind != "complete")
        {
            return passed(parts, bytes);
        }
        let shape = if lookup.modern {
            Shape::ModernRpcResult
        } else {
            Shape::RpcResult
        };
        let hint = hint.or_else(|| result_hint(&hints));
        let stored = if lookup.modern {
            // Kept without its `ttlMs`: a hit writes what is left of the TTL in front of the
            // stored members instead of parsing the result again.
            match result_without_ttl(result.get()) {
                Some(stored) => stored,
                None => return passed(parts, bytes),
            }
        } else {
            Bytes::copy_from_slice(result.get().as_bytes())
        };
        (shape, stored, hint)
    };
    let hint = hint.unwrap_or_default();
    if hint.scope == CacheScope::NoStore {
        return passed(parts, bytes);
    }
    let ttl = if not_found {
        settings.not_found_ttl.unwrap_or_default()
    } else {
        hint.ttl.unwrap_or(settings.default_ttl)
    };
    store(
        shared, lookup, owner, &parts, status, shape, stored, hint, ttl, generation,
    )
    .unwrap_or_else(|| passed(parts, bytes))
}

/// Stores an entry; `None` when it may not be (over the budget or the caller's share, or
/// invalidated since `generation`).
#[allow(clippy::too_many_arguments)]
fn store<B>(
    shared: &CacheShared,
    lookup: &Lookup,
    owner: &str,
    parts: &http::response::Parts,
    status: StatusCode,
    shape: Shape,
    stored: Bytes,
    hint: CacheHint,
    ttl: Duration,
    generation: u64,
) -> Option<Filled<B>> {
    let settings = &shared.settings;
    let now = Instant::now();
    let fresh_until = now + ttl;
    let revalidate_until = fresh_until + settings.stale_while_revalidate;
    let entry = Arc::new(Entry {
        shape,
        status,
        body: stored,
        content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
        etag: parts.headers.get(header::ETAG).cloned(),
        last_modified: parts.headers.get(header::LAST_MODIFIED).cloned(),
        labels: parts.extensions.get::<ContextLabels>().cloned(),
        public: hint.scope == CacheScope::Public,
        context_id: lookup.context_id.clone(),
        fresh_until,
        revalidate_until,
        stale_if_error_until: revalidate_until.max(fresh_until + settings.stale_if_error),
        refreshing: AtomicBool::new(false),
        #[cfg(feature = "compression")]
        variants: super::variant::Variants::default(),
    });
    let key = lookup.key((!entry.public).then_some(owner));
    shared
        .store
        .insert(key, Arc::clone(&entry), owner, generation)
        .then(|| Filled::Stored(entry))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn cache_control(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|directive| directive.trim().to_ascii_lowercase())
}

fn no_store(headers: &HeaderMap) -> bool {
    cache_control(headers).any(|directive| directive == "no-store")
}

/// The hint an inner service gives in `Cache-Control`: `public` or `private`, `max-age`.
fn header_hint(headers: &HeaderMap) -> Option<CacheHint> {
    let mut hint = None::<CacheHint>;
    for directive in cache_control(headers) {
        let hint = hint.get_or_insert_with(CacheHint::default);
        if directive == "public" {
            hint.scope = CacheScope::Public;
        } else if let Some(seconds) = directive.strip_prefix("max-age=") {
            hint.ttl = seconds.parse().ok().map(Duration::from_secs);
        }
    }
    hint
}

/// The hint a 2026-07-28 result carries in `ttlMs` and `cacheScope`.
fn result_hint(hints: &ResultHints) -> Option<CacheHint> {
    let scope = match hints.cache_scope.as_deref()? {
        "public" => CacheScope::Public,
        _ => CacheScope::Private,
    };
    let ttl = hints.ttl_ms.filter(|ms| *ms > 0).map(Duration::from_millis);
    Some(CacheHint { ttl, scope })
}

/// A 2026-07-28 result object without its `ttlMs` member, the other members' values as they
/// were written; `None` when the result is not an object.
fn result_without_ttl(result: &str) -> Option<Bytes> {
    let mut members: std::collections::BTreeMap<String, &serde_json::value::RawValue> =
        serde_json::from_str(result).ok()?;
    members.remove("ttlMs");
    serde_json::to_vec(&members).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::result_without_ttl;

    #[test]
    fn results_are_stored_without_their_ttl_and_values_untouched() {
        let stored = result_without_ttl(r#"{"ttlMs":5,"b":1.50,"a":{"x":[1e3]}}"#).unwrap();
        assert_eq!(&stored[..], br#"{"a":{"x":[1e3]},"b":1.50}"#);
        assert_eq!(&result_without_ttl(r#"{"ttlMs":5}"#).unwrap()[..], b"{}");
        assert!(result_without_ttl("[1]").is_none());
        assert!(result_without_ttl("not json").is_none());
    }
}
