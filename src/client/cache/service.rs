//! [`ClientCache`]: answer from memory, revalidate, or fetch and keep.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full};
use tokio::time::Instant;
use tower_service::Service;

use super::store::{Entry, Key, Refreshed, Store, freshness, varies_only_on_key};
use super::{CacheOutcome, Shared};
use crate::error::BoxError;

/// The service built by [`ClientCacheLayer`](super::ClientCacheLayer). Its answers are the
/// stored body (`Either::Left`) or the server's own (`Either::Right`).
#[derive(Debug, Clone)]
pub struct ClientCache<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> ClientCache<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The future of [`ClientCache`].
pub type ResponseFuture<ResBody> =
    Pin<Box<dyn Future<Output = Result<Response<Either<Full<Bytes>, ResBody>>, BoxError>> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for ClientCache<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Either<Full<Bytes>, ResBody>>;
    type Error = BoxError;
    type Future = ResponseFuture<ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The instance made ready by poll_ready goes with the request; a clone stays.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(answer(Arc::clone(&self.shared), inner, request))
    }
}

/// What a request's own directives ask of the cache (RFC 9111 §5.2.1, §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asks {
    /// Nothing: a fresh entry answers.
    Nothing,
    /// `no-cache`, `max-age=0` or `Pragma: no-cache`: a stored answer only once the server
    /// confirms it (a conditional request; `304` reuses the body).
    Validation,
    /// `no-store`: the cache stays out of the exchange.
    NoStore,
}

fn asks(headers: &http::HeaderMap) -> Asks {
    let directives = |name| {
        headers
            .get_all(name)
            .into_iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|directive| directive.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let cache_control = directives(header::CACHE_CONTROL);
    if cache_control
        .iter()
        .any(|directive| directive == "no-store")
    {
        return Asks::NoStore;
    }
    let validation = cache_control.iter().any(|directive| {
        directive == "no-cache"
            || directive
                .strip_prefix("max-age=")
                .is_some_and(|seconds| seconds.trim_matches('"').parse::<u64>().ok() == Some(0))
    }) || directives(header::PRAGMA)
        .iter()
        .any(|directive| directive == "no-cache");
    if validation {
        Asks::Validation
    } else {
        Asks::Nothing
    }
}

fn stored<R>(entry: Entry, outcome: CacheOutcome) -> Response<Either<Full<Bytes>, R>> {
    let mut response = Response::new(Either::Left(Full::new(entry.body)));
    *response.headers_mut() = entry.headers;
    response.extensions_mut().insert(outcome);
    response
}

/// The server's own answer, marked as a miss.
fn fetched<L, R>(response: Response<R>) -> Response<Either<L, R>> {
    let mut response = response.map(Either::Right);
    response.extensions_mut().insert(CacheOutcome::Miss);
    response
}

async fn answer<S, B, ResBody>(
    shared: Arc<Shared>,
    mut inner: S,
    mut request: Request<B>,
) -> Result<Response<Either<Full<Bytes>, ResBody>>, BoxError>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Body,
    ResBody::Error: Into<BoxError>,
{
    let cacheable_request = request.method() == Method::GET
        && !request.headers().contains_key(header::IF_NONE_MATCH)
        && !request.headers().contains_key(header::IF_MODIFIED_SINCE)
        && !request.headers().contains_key(header::RANGE)
        && asks(request.headers()) != Asks::NoStore;
    if !cacheable_request {
        let response = inner.call(request).await.map_err(Into::into)?;
        return Ok(fetched(response));
    }
    let key = Key::of(&request);
    let revalidating = {
        let mut store = shared.store();
        match store.get(&key) {
            Some(entry)
                if Instant::now() < entry.fresh_until
                    && asks(request.headers()) == Asks::Nothing =>
            {
                return Ok(stored(entry.clone(), CacheOutcome::Fresh));
            }
            Some(entry) => {
                let headers = request.headers_mut();
                if let Some(etag) = entry.etag() {
                    headers.insert(header::IF_NONE_MATCH, etag.clone());
                }
                if let Some(modified) = entry.last_modified() {
                    headers.insert(header::IF_MODIFIED_SINCE, modified.clone());
                }
                true
            }
            None => false,
        }
    };
    let response = inner.call(request).await.map_err(Into::into)?;
    let lifetime = freshness(response.headers());
    if revalidating && response.status() == StatusCode::NOT_MODIFIED {
        let refreshed = shared
            .store()
            .refresh(&key, response.headers(), Instant::now());
        return Ok(match refreshed {
            Refreshed::Kept(entry) | Refreshed::Once(entry) => {
                stored(entry, CacheOutcome::Revalidated)
            }
            // Nothing the 304 validates: the 304 as it is.
            Refreshed::Gone => fetched(response),
        });
    }
    let length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<usize>().ok());
    // An answer that varies on request headers the key does not hold is not kept: it could
    // serve one variant (one tenant's, say) to another.
    let kept_length = length.filter(|&length| {
        response.status() == StatusCode::OK
            && lifetime.is_some()
            && length <= shared.max_entry_bytes
            && varies_only_on_key(response.headers())
    });
    let Some(length) = kept_length else {
        if revalidating {
            shared.store().remove(&key);
        }
        return Ok(fetched(response));
    };
    let (parts, body) = response.into_parts();
    // Exactly Content-Length bytes (at most max_entry_bytes): a body that sends more, or
    // ends before, is refused rather than kept.
    let body = http_body_util::Limited::new(body, length)
        .collect()
        .await?
        .to_bytes();
    if body.len() != length {
        return Err("client cache: the body ended before its Content-Length".into());
    }
    let entry = Entry {
        headers: parts.headers.clone(),
        body: body.clone(),
        fresh_until: Instant::now() + lifetime.unwrap_or_default(),
    };
    shared.store().put(key, entry);
    let mut response = Response::from_parts(parts, Either::Left(Full::new(body)));
    response.extensions_mut().insert(CacheOutcome::Miss);
    Ok(response)
}
