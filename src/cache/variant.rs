//! Stored encoded variants (feature `compression`): a context read's body compressed once
//! per coding, on its first request in that coding, and kept with its entry.
//!
//! The compression layer above the cache negotiates and leaves the chosen coding as the
//! request's only `Accept-Encoding` token (`gzip`, `br`, `zstd` or `identity`); the cache
//! answers a read in that coding from the entry's variant, which the compression layer passes
//! through as already encoded. Only REST context reads get variants: a JSON-RPC answer is
//! spliced around each caller's id (and a 2026-07-28 one carries the remaining `ttlMs`), and
//! a listing is filtered by the policy above, so their bytes differ per request and are
//! compressed on the way out instead.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use tokio::sync::OnceCell;

use super::entry::{Entry, Shape};
use super::key::{CacheKey, Lookup};
use super::layer::CacheShared;
use super::store::Counters;
use crate::coding::{self, Coding, CompressionConfig};
use crate::error::{BodyOrEnvelope, FullBody};

/// Bodies up to this size are compressed on the request's own task (well under a
/// millisecond); larger ones on the blocking pool, off the async threads.
const INLINE_BYTES: usize = 16 * 1024;

/// An entry's encoded bodies, one cell per coding: empty until first asked for, then the
/// encoded bytes, or `None` when they could not be kept (the byte budget refused them).
#[derive(Debug, Default)]
pub(crate) struct Variants {
    cells: [OnceCell<Option<Bytes>>; 3],
}

/// The coding `headers` (as the compression layer left them) ask of `entry`, when `entry`
/// may be answered encoded: a REST context read, `200`, worth compressing under `config`.
fn wanted(
    config: &CompressionConfig,
    entry: &Entry,
    lookup: &Lookup,
    headers: &HeaderMap,
) -> Option<Coding> {
    if entry.shape != Shape::Rest
        || lookup.rpc_id.is_some()
        || entry.context_id.is_none()
        || entry.status != StatusCode::OK
        || !coding::worth_compressing(
            entry.status,
            entry.content_type.as_ref(),
            Some(entry.body.len() as u64),
            config.min_size,
        )
    {
        return None;
    }
    let mut fields = headers.get_all(header::ACCEPT_ENCODING).iter();
    let (Some(only), None) = (fields.next(), fields.next()) else {
        return None;
    };
    Coding::parse(only.as_bytes()).filter(|coding| config.encodings.allows(*coding))
}

/// `response` (made from `entry` for `lookup`) in the coding the request asks for, from the
/// entry's stored variant, built now when it is the first request in that coding (one
/// compression however many ask at once). Anything else is returned as it is.
pub(crate) async fn with_variant<B>(
    shared: &CacheShared,
    config: Option<&CompressionConfig>,
    key: &CacheKey,
    entry: &Arc<Entry>,
    lookup: &Lookup,
    request_headers: &HeaderMap,
    response: Response<BodyOrEnvelope<B>>,
) -> Response<BodyOrEnvelope<B>> {
    let Some(config) = config else {
        return response;
    };
    if response.status() != StatusCode::OK {
        return response; // a 304, or a stored refusal
    }
    let Some(coding) = wanted(config, entry, lookup, request_headers) else {
        return response;
    };
    let cell = &entry.variants.cells[coding as usize];
    let built = cell
        .get_or_init(|| build(shared, config, key, entry, coding))
        .await;
    let Some(encoded) = built else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    coding::mark_encoded(&mut parts.headers, coding);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(encoded.len()));
    let body = if lookup.head {
        FullBody::default()
    } else {
        FullBody::new(encoded.clone())
    };
    Response::from_parts(parts, BodyOrEnvelope::envelope(body))
}

/// Compresses `entry`'s body in `coding` and charges it to the entry in the store.
async fn build(
    shared: &CacheShared,
    config: &CompressionConfig,
    key: &CacheKey,
    entry: &Arc<Entry>,
    coding: Coding,
) -> Option<Bytes> {
    let level = config.level;
    let body = entry.body.clone();
    let encoded = if body.len() <= INLINE_BYTES {
        coding::encode(coding, level, &body).await
    } else {
        let runtime = tokio::runtime::Handle::current();
        let encoding =
            move || runtime.block_on(async move { coding::encode(coding, level, &body).await });
        tokio::task::spawn_blocking(encoding).await.ok()?
    };
    Counters::add(&shared.store.counters.encoded);
    shared
        .store
        .grow(key, entry, encoded.len())
        .then_some(encoded)
}
