use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::Entry;
use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::{AuthOutcome, AuthShared};
use crate::error::{Dialect, FullBody};
use crate::facts::RequestFacts;
use crate::principal::Principal;

/// The service built by [`AuthLayer`](super::AuthLayer).
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    shared: Arc<AuthShared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Auth<S> {
    pub(crate) fn new(inner: S, shared: Arc<AuthShared>) -> Self {
        Self { inner, shared }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<crate::error::BodyOrEnvelope<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        if let Some((metadata, service)) = &shared.metadata
            && metadata.is_metadata_path(request.uri().path())
        {
            return ResponseFuture::answered(service.respond(request.method()));
        }
        let dialect = shared.detector.detect(request.uri(), request.headers());
        mark_sensitive(shared, &mut request);
        let span = tracing::debug_span!("authenticate");
        let outcome = span.in_scope(|| shared.decide(&request));
        match outcome {
            AuthOutcome::Now(Ok(principal)) => {
                admit(shared, &mut request, principal);
                ResponseFuture::calling(self.inner.call(request), shared.vary.clone())
            }
            AuthOutcome::Now(Err(err)) => ResponseFuture::answered(reject(shared, &err, dialect)),
            AuthOutcome::Later(pending) => {
                // The inner service was made ready by `poll_ready`; take that instance and
                // leave a clone (tower's guidance for services that call later).
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                // The wait (a key set being fetched) belongs to the same span.
                let pending = Box::pin(tracing::Instrument::instrument(pending, span));
                ResponseFuture::authenticating(pending, inner, request, Arc::clone(shared), dialect)
            }
        }
    }
}

/// Credential headers are marked sensitive so that no logger prints them.
fn mark_sensitive<B>(shared: &AuthShared, request: &mut Request<B>) {
    for name in &shared.credential_headers {
        if let Entry::Occupied(mut entry) = request.headers_mut().entry(name) {
            for value in entry.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
}

/// Lets an authenticated request on: the principal goes in, the credential comes out, so
/// the caller's token never reaches a source or an upstream.
pub(crate) fn admit<B>(shared: &AuthShared, request: &mut Request<B>, principal: Principal) {
    for name in &shared.credential_headers {
        request.headers_mut().remove(name);
    }
    RequestFacts::record(request.extensions(), |facts| {
        facts.set_principal(principal.shared_identity());
    });
    request.extensions_mut().insert(principal);
}

pub(crate) fn reject(
    shared: &AuthShared,
    err: &super::AuthError,
    dialect: Dialect,
) -> Response<FullBody> {
    tracing::debug!(reason = %err, "request not authenticated");
    err.rejection(&shared.challenge).into_response(dialect)
}
