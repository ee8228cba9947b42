//! [`ContextCacheService`]: hit, or one fetch for everyone who missed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use tracing::Instrument;

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use tokio::time::Instant;
use tower_service::Service;

use super::entry::{Entry, Freshness};
use super::fill::{Filled, fill};
use super::flight::{Landing, Role};
use super::key::Lookup;
use super::layer::{CacheShared, VariantConfig};
use super::respond::{from_entry, mark, status};
use super::store::Counters;
use crate::error::{BodyOrEnvelope, BoxError, ErrorCode, Rejection};
use crate::mcp::{Endpoint, McpRequest, RequestBody, classify};
use crate::principal::Principal;

/// The service built by [`ContextCacheLayer`](super::ContextCacheLayer).
#[derive(Debug, Clone)]
pub struct ContextCacheService<S> {
    inner: S,
    shared: Arc<CacheShared>,
    endpoint: Arc<Endpoint>,
    variants: VariantConfig,
}

impl<S> ContextCacheService<S> {
    pub(crate) fn new(
        inner: S,
        shared: Arc<CacheShared>,
        endpoint: Arc<Endpoint>,
        variants: VariantConfig,
    ) -> Self {
        Self {
            inner,
            shared,
            endpoint,
            variants,
        }
    }
}

type BoxedResponse<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<BodyOrEnvelope<B>>, E>> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for ContextCacheService<S>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<BodyOrEnvelope<ResBody>>;
    type Error = S::Error;
    type Future = BoxedResponse<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The instance made ready by `poll_ready` answers; a clone stays for the next call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        if !self.shared.settings.enabled {
            let mut inner = inner;
            let future = inner.call(request.map(RequestBody::streaming));
            return Box::pin(async move { Ok(future.await?.map(BodyOrEnvelope::inner)) });
        }
        let shared = Arc::clone(&self.shared);
        let endpoint = Arc::clone(&self.endpoint);
        let variants = self.variants;
        Box::pin(
            answer(shared, endpoint, variants, inner, request)
                .instrument(tracing::debug_span!("cache")),
        )
    }
}

/// Who is asking, as the cache keys and marks answers.
struct Caller {
    owner: String,
    authenticated: bool,
}

async fn answer<S, B, ResBody>(
    shared: Arc<CacheShared>,
    endpoint: Arc<Endpoint>,
    variants: VariantConfig,
    mut inner: S,
    request: Request<B>,
) -> Result<Response<BodyOrEnvelope<ResBody>>, S::Error>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let request = match classify(&endpoint, request).await {
        Ok(request) => request,
        Err(refusal) => return Ok(refusal.map(BodyOrEnvelope::envelope)),
    };
    let lookup = request
        .extensions()
        .get::<McpRequest>()
        .and_then(|classified| Lookup::of(classified, request.method(), request.uri(), &endpoint));
    let Some(lookup) = lookup else {
        return Ok(inner.call(request).await?.map(BodyOrEnvelope::inner));
    };
    let principal = request.extensions().get::<Principal>();
    let caller = Caller {
        owner: principal.map_or_else(String::new, |p| p.identity().to_owned()),
        authenticated: principal.is_some_and(|p| !p.is_anonymous()),
    };
    // The body first, within the endpoint's limit: every path below may replay it, and a
    // stale hit must not leave an unbounded read behind.
    let (parts, body) = request.into_parts();
    let Ok(body) = Limited::new(body, endpoint.body_limit()).collect().await else {
        let refusal = Rejection::bad_request("the body could not be read");
        return Ok(refusal
            .into_response(lookup_dialect(&parts))
            .map(BodyOrEnvelope::envelope));
    };
    let body = body.to_bytes();
    let counters = &shared.store.counters;
    let mut stale = None;
    for key in [lookup.key(None), lookup.key(Some(&caller.owner))] {
        let Some(entry) = shared.store.get(&key) else {
            continue;
        };
        match entry.freshness(Instant::now()) {
            Freshness::Fresh => {
                Counters::add(&counters.hits);
                let serving = Serving::new(&shared, &variants, &lookup, &caller, &parts);
                return Ok(serving.answer(&entry, status::HIT).await);
            }
            Freshness::Revalidate => {
                Counters::add(&counters.stale);
                let serving = Serving::new(&shared, &variants, &lookup, &caller, &parts);
                let response = serving.answer(&entry, status::STALE).await;
                if !entry.refreshing.swap(true, Ordering::AcqRel) {
                    let request = rebuild(&parts, &body);
                    refresh_later(&shared, lookup, caller, inner, request, entry);
                }
                return Ok(response);
            }
            Freshness::IfError => stale = Some(entry),
            // Only this entry: another request may have stored a fresh one meanwhile.
            Freshness::Expired => shared.store.remove_entry(&key, &entry),
        }
    }
    Counters::add(&counters.misses);
    if lookup.head {
        // A HEAD answer has no body to keep: ask, and keep nothing.
        let mut response = inner.call(rebuild(&parts, &body)).await?;
        mark(&mut response, status::MISS);
        return Ok(response.map(BodyOrEnvelope::inner));
    }
    let serving = Serving::new(&shared, &variants, &lookup, &caller, &parts);
    fetch(&serving, inner, body, stale).await
}

/// The dialect of a request, for a refusal.
fn lookup_dialect(parts: &Parts) -> crate::error::Dialect {
    parts
        .extensions
        .get::<McpRequest>()
        .map_or(crate::error::Dialect::Other, |classified| {
            classified.dialect
        })
}

/// What answering from an entry needs: the request and who asks.
struct Serving<'a> {
    shared: &'a CacheShared,
    variants: &'a VariantConfig,
    lookup: &'a Lookup,
    caller: &'a Caller,
    parts: &'a Parts,
}

impl<'a> Serving<'a> {
    fn new(
        shared: &'a CacheShared,
        variants: &'a VariantConfig,
        lookup: &'a Lookup,
        caller: &'a Caller,
        parts: &'a Parts,
    ) -> Self {
        Self {
            shared,
            variants,
            lookup,
            caller,
            parts,
        }
    }

    /// The answer from `entry`, from its stored encoded variant when the request asks for
    /// one (feature `compression`).
    #[cfg_attr(not(feature = "compression"), allow(clippy::unused_async))]
    async fn answer<ResBody>(
        &self,
        entry: &Arc<Entry>,
        cache_status: &'static str,
    ) -> Response<BodyOrEnvelope<ResBody>> {
        let response = from_entry(
            entry,
            self.lookup,
            &self.parts.headers,
            self.caller.authenticated,
            cache_status,
        );
        #[cfg(feature = "compression")]
        {
            // Where fill stored it: shared, or the caller's own.
            let key = self
                .lookup
                .key((!entry.public).then_some(self.caller.owner.as_str()));
            super::variant::with_variant(
                self.shared,
                self.variants.config.as_ref(),
                &key,
                entry,
                self.lookup,
                &self.parts.headers,
                response,
            )
            .await
        }
        #[cfg(not(feature = "compression"))]
        {
            let _ = (self.shared, self.variants);
            response
        }
    }
}

/// The request again, with its (already read) body.
fn rebuild<B>(parts: &Parts, body: &Bytes) -> Request<RequestBody<B>> {
    let mut request = Request::new(RequestBody::buffered(body.clone()));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    *request.extensions_mut() = parts.extensions.clone();
    request
}

/// A miss: lead the one fetch for this key, or wait for the request that leads it.
async fn fetch<S, B, ResBody>(
    serving: &Serving<'_>,
    mut inner: S,
    body: Bytes,
    stale: Option<Arc<Entry>>,
) -> Result<Response<BodyOrEnvelope<ResBody>>, S::Error>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    let Serving {
        shared,
        lookup,
        caller,
        parts,
        ..
    } = *serving;
    let counters = &shared.store.counters;
    match shared.flights.join(&lookup.key(Some(&caller.owner))) {
        Role::Follower(mut landing) => {
            Counters::add(&counters.joins);
            let waited = tokio::time::timeout(
                shared.settings.flight_timeout,
                landing.wait_for(|landing| !matches!(landing, Landing::InFlight)),
            )
            .await;
            let landed = waited.map(|landed| {
                landed.ok().and_then(|landed| match &*landed {
                    Landing::Stored(entry) => Some(Arc::clone(entry)),
                    _ => None,
                })
            });
            match landed {
                Ok(Some(entry)) => return Ok(serving.answer(&entry, status::HIT).await),
                // Nothing stored, or the leader is gone: ask alone.
                Ok(None) => {}
                // The leader hangs: a stale copy, or a timeout; never wait on.
                Err(_) => {
                    if let Some(entry) = &stale {
                        Counters::add(&counters.stale);
                        return Ok(serving.answer(entry, status::STALE).await);
                    }
                    let timeout = Rejection::new(
                        ErrorCode::Timeout,
                        "the context source did not answer in time",
                    );
                    return Ok(timeout
                        .into_response(lookup_dialect(parts))
                        .map(BodyOrEnvelope::envelope));
                }
            }
            let mut response = inner.call(rebuild(parts, &body)).await?;
            mark(&mut response, status::MISS);
            Ok(response.map(BodyOrEnvelope::inner))
        }
        Role::Leader(leader) => {
            // An invalidation while this fetch runs makes its answer old news: not stored.
            let generation = shared.store.generation();
            let response = match inner.call(rebuild(parts, &body)).await {
                Ok(response) => response,
                Err(err) => {
                    leader.land(None);
                    return match &stale {
                        Some(entry) => {
                            Counters::add(&counters.stale);
                            Ok(serving.answer(entry, status::STALE).await)
                        }
                        None => Err(err),
                    };
                }
            };
            if response.status().is_server_error()
                && let Some(entry) = &stale
            {
                // stale-if-error: the source failed, the last good answer is still allowed.
                leader.land(None);
                Counters::add(&counters.stale);
                return Ok(serving.answer(entry, status::STALE).await);
            }
            match fill(shared, lookup, &caller.owner, response, generation).await {
                Filled::Stored(entry) => {
                    leader.land(Some(Arc::clone(&entry)));
                    Ok(serving.answer(&entry, status::STORED).await)
                }
                Filled::Passed(mut response) => {
                    leader.land(None);
                    mark(&mut response, status::MISS);
                    Ok(response)
                }
            }
        }
    }
}

/// stale-while-revalidate: one background request replaces `entry`; the caller is already
/// answered. A failed refresh lets the next stale hit try again.
///
/// The refresh runs in a `cache.refresh` span of its own (a new trace: the request's span
/// has ended by then), which follows from the current one and carries the request id, so its
/// log lines and its source call are found from the request that caused it.
fn refresh_later<S, B, ResBody>(
    shared: &Arc<CacheShared>,
    lookup: Lookup,
    caller: Caller,
    inner: S,
    request: Request<RequestBody<B>>,
    entry: Arc<Entry>,
) where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let shared = Arc::clone(shared);
    let generation = shared.store.generation();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .unwrap_or("-");
    // At ERROR level, as the request span, so that its id is on error lines.
    let refresh = tracing::error_span!(parent: None, "cache.refresh", request_id);
    refresh.follows_from(tracing::Span::current());
    let refreshing = async move {
        let mut inner = inner;
        let stored = match inner.call(request).await {
            Ok(response) if response.status().is_success() => matches!(
                fill(&shared, &lookup, &caller.owner, response, generation).await,
                Filled::Stored(_)
            ),
            _ => false,
        };
        if !stored {
            entry.refreshing.store(false, Ordering::Release);
        }
    };
    tokio::spawn(refreshing.instrument(refresh));
}
