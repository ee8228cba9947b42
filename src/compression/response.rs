//! [`CompressionLayer`]: responses compressed as the client accepts, around tower-http's
//! `Compression`, with the negotiation, `Vary` and `ETag` rules of [`negotiate`](super::negotiate).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_http::compression::predicate::Predicate;
use tower_http::compression::{
    Compression as TowerCompression, CompressionBody, ResponseFuture as TowerFuture,
};
use tower_layer::Layer;
use tower_service::Service;

use super::CompressionConfig;
use super::either::EitherBody;
use super::negotiate::{self, Coding};
use crate::error::BoxError;

/// Compresses responses; see the [module documentation](super).
#[derive(Debug, Clone)]
pub struct CompressionLayer {
    config: Option<Arc<CompressionConfig>>,
}

impl CompressionLayer {
    /// Compression as `config` says.
    pub fn new(config: CompressionConfig) -> Self {
        Self {
            config: Some(Arc::new(config)),
        }
    }

    /// A layer that passes everything through untouched (what a stack without
    /// `.compression(...)` holds).
    pub fn disabled() -> Self {
        Self { config: None }
    }
}

impl<S> Layer<S> for CompressionLayer {
    type Service = Compression<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let (min_size, level) = self
            .config
            .as_ref()
            .map_or((0, super::CompressionLevel::Default), |c| {
                (c.min_size, c.level)
            });
        Compression {
            inner: TowerCompression::new(inner)
                .quality(level)
                .compress_when(Eligible { min_size }),
            config: self.config.clone(),
        }
    }
}

/// Which responses tower-http may compress (it adds: never one already encoded or a range).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Eligible {
    min_size: u64,
}

impl Predicate for Eligible {
    fn should_compress<B: Body>(&self, response: &Response<B>) -> bool {
        let size = response.body().size_hint().exact().or_else(|| {
            response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
        });
        crate::coding::worth_compressing(
            response.status(),
            response.headers().get(header::CONTENT_TYPE),
            size,
            self.min_size,
        )
    }
}

/// A service wrapped by [`CompressionLayer`].
#[derive(Clone)]
pub struct Compression<S> {
    inner: TowerCompression<S, Eligible>,
    config: Option<Arc<CompressionConfig>>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Compression<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compression")
            .field("inner", self.inner.get_ref())
            .field("config", &self.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Compression<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let Some(config) = &self.config else {
            return ResponseFuture {
                kind: Kind::Plain {
                    future: self.inner.get_mut().call(request),
                },
                fixes: None,
            };
        };
        // A HEAD is negotiated too, so that the layers below may answer it with the headers
        // of the GET (a cache's stored variant), but its (empty) body is never compressed.
        let coding = negotiate::choose(request.headers(), config.encodings);
        let compress = coding.is_some() && request.method() != Method::HEAD;
        let if_none_match = request
            .headers()
            .get(header::IF_NONE_MATCH)
            .map(|value| Bytes::copy_from_slice(value.as_bytes()));
        let token = coding.map_or("identity", Coding::token);
        request
            .headers_mut()
            .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(token));
        let fixes = Some(Fixes {
            coding,
            if_none_match,
        });
        let kind = if compress {
            Kind::Compressing {
                future: self.inner.call(request),
            }
        } else {
            Kind::Plain {
                future: self.inner.get_mut().call(request),
            }
        };
        ResponseFuture { kind, fixes }
    }
}

/// What to correct on the way out.
#[derive(Debug)]
struct Fixes {
    coding: Option<Coding>,
    if_none_match: Option<Bytes>,
}

impl Fixes {
    fn apply<B>(&self, response: &mut Response<B>) {
        let status = response.status();
        let headers = response.headers_mut();
        if status == StatusCode::NOT_MODIFIED {
            // A 304 carries what the 200 would: the Vary, and the tag in the form the
            // client holds.
            negotiate::add_vary(headers);
            let holds_weak = matches!(
                (&self.if_none_match, headers.get(header::ETAG)),
                (Some(asked), Some(etag)) if negotiate::client_holds_weak(asked, etag.as_bytes())
            );
            if holds_weak {
                negotiate::weaken_etag(headers);
            }
            return;
        }
        // Encoded here, or below (a cache's stored variant) in the coding negotiated here.
        let encoded_by_us = self.coding.is_some_and(|coding| {
            headers
                .get(header::CONTENT_ENCODING)
                .is_some_and(|value| value.as_bytes() == coding.token().as_bytes())
        });
        if encoded_by_us {
            crate::coding::encoded(headers);
        } else if negotiate::compressible_type(headers) {
            negotiate::add_vary(headers);
        }
    }
}

pin_project! {
    /// The response future of [`Compression`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
        fixes: Option<Fixes>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Compressing { #[pin] future: TowerFuture<F, Eligible> },
        Plain { #[pin] future: F },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.kind.project() {
            KindProj::Compressing { future } => ready!(future.poll(cx))?.map(|body| ResponseBody {
                kind: EitherBody::left(body),
            }),
            KindProj::Plain { future } => ready!(future.poll(cx))?.map(|body| ResponseBody {
                kind: EitherBody::right(body),
            }),
        };
        if let Some(fixes) = this.fixes {
            fixes.apply(&mut response);
        }
        Poll::Ready(Ok(response))
    }
}

pin_project! {
    /// The response body of [`Compression`]: compressed, or the inner body untouched.
    pub struct ResponseBody<B>
    where
        B: Body,
    {
        #[pin]
        kind: ResponseBodyKind<B>,
    }
}

/// Through tower-http's encoder (which passes bodies it does not compress through), or never
/// offered for compression.
type ResponseBodyKind<B> = EitherBody<CompressionBody<B>, B>;

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project().kind.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.kind.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.kind.size_hint()
    }
}
