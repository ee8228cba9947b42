//! [`RequestDecompressionLayer`]: request bodies in gzip, brotli or zstd decoded as they are
//! read, the decoded bytes held to the endpoint's body limit; other codings refused with 415.
//!
//! gzip is decoded here, every member of it (RFC 1952 §2.2: a gzip file is a series of
//! members, and a body of several is valid): tower-http's decoder stops after the first and
//! would silently drop the rest. brotli and zstd (already read whole) go through tower-http.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use async_compression::tokio::bufread::GzipDecoder;
use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::{MapErr, TryStreamExt};
use http::{HeaderValue, Request, Response, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyDataStream, BodyExt, Limited};
use pin_project_lite::pin_project;
use tokio_util::io::{ReaderStream, StreamReader};
use tower_http::body::UnsyncBoxBody;
use tower_http::decompression::{
    DecompressionBody, RequestDecompression as TowerDecompression, RequestDecompressionFuture,
};
use tower_layer::Layer;
use tower_service::Service;

use super::either::EitherBody;
use super::negotiate::{self, Coding, RequestCoding};
use super::{CompressionConfig, Encodings};
use crate::error::{BoxError, DialectDetector, ErrorCode, FullBody, Rejection};
use crate::mcp::Endpoint;

/// Decodes compressed request bodies; see the [module documentation](super).
#[derive(Debug, Clone)]
pub struct RequestDecompressionLayer {
    shared: Option<Arc<Shared>>,
}

#[derive(Debug)]
struct Shared {
    encodings: Encodings,
    limit: usize,
    detector: DialectDetector,
    accepted: HeaderValue,
}

impl RequestDecompressionLayer {
    /// Decodes the codings `config` offers, within the default endpoint's body limit; give
    /// the layer your endpoint with [`with_endpoint`](Self::with_endpoint).
    pub fn new(config: CompressionConfig) -> Self {
        Self::for_parts(config.encodings, &Endpoint::default())
    }

    /// Uses `endpoint`'s body limit and dialects.
    #[must_use]
    pub fn with_endpoint(self, endpoint: &Endpoint) -> Self {
        match self.shared {
            Some(shared) => Self::for_parts(shared.encodings, endpoint),
            None => self,
        }
    }

    /// A layer that passes every request through untouched, whatever its `Content-Encoding`.
    pub fn disabled() -> Self {
        Self { shared: None }
    }

    fn for_parts(encodings: Encodings, endpoint: &Endpoint) -> Self {
        Self {
            shared: Some(Arc::new(Shared {
                encodings,
                limit: endpoint.body_limit(),
                detector: endpoint.dialect_detector().clone(),
                accepted: negotiate::accepted_codings(encodings),
            })),
        }
    }
}

impl<S> Layer<S> for RequestDecompressionLayer {
    type Service = RequestDecompression<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let limit = self.shared.as_ref().map_or(usize::MAX, |s| s.limit);
        RequestDecompression {
            inner: TowerDecompression::new(Adapt { inner, limit }),
            shared: self.shared.clone(),
        }
    }
}

/// A service wrapped by [`RequestDecompressionLayer`].
#[derive(Debug, Clone)]
pub struct RequestDecompression<S> {
    inner: TowerDecompression<Adapt<S>>,
    shared: Option<Arc<Shared>>,
}

/// Hands tower-http's decoding body on, held to the decoded-size limit.
#[derive(Debug, Clone)]
struct Adapt<S> {
    inner: S,
    limit: usize,
}

impl<S, B> Service<Request<DecompressionBody<B>>> for Adapt<S>
where
    S: Service<Request<DecodedBody<B>>>,
    B: Body,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<DecompressionBody<B>>) -> Self::Future {
        let limit = self.limit;
        self.inner.call(request.map(|body| DecodedBody {
            kind: EitherBody::right(EitherBody::left(Limited::new(body, limit))),
        }))
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestDecompression<S>
where
    S: Service<Request<DecodedBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<DecompressionResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = DecompressionFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let coding = self.shared.as_ref().map(|shared| {
            (
                negotiate::request_coding(request.headers(), shared.encodings),
                shared,
            )
        });
        let plain = |inner: &mut TowerDecompression<Adapt<S>>, request: Request<ReqBody>| {
            DecompressionFuture {
                kind: FutureKind::Plain {
                    future: inner.get_mut().inner.call(request.map(|body| DecodedBody {
                        kind: EitherBody::left(body),
                    })),
                },
            }
        };
        match coding {
            None | Some((RequestCoding::Identity, _)) => plain(&mut self.inner, request),
            Some((RequestCoding::Unsupported, shared)) => {
                let dialect = shared.detector.detect(request.uri(), request.headers());
                let mut response = Rejection::new(
                    ErrorCode::UnsupportedMediaType,
                    "Unsupported Media Type: the request body's Content-Encoding is not one of those named in Accept-Encoding",
                )
                .into_response(dialect);
                response
                    .headers_mut()
                    .insert(header::ACCEPT_ENCODING, shared.accepted.clone());
                DecompressionFuture {
                    kind: FutureKind::Rejected {
                        response: Some(response),
                    },
                }
            }
            Some((RequestCoding::Coded(Coding::Gzip), shared)) => {
                // Decoded here, every member; the layers below see what tower-http would
                // leave: no coding, no (encoded) length.
                let headers = request.headers_mut();
                headers.remove(header::CONTENT_ENCODING);
                headers.remove(header::CONTENT_LENGTH);
                let limit = shared.limit;
                DecompressionFuture {
                    kind: FutureKind::Plain {
                        future: self
                            .inner
                            .get_mut()
                            .inner
                            .call(request.map(|body| DecodedBody {
                                kind: EitherBody::right(EitherBody::right(Limited::new(
                                    GzipMembers::new(body),
                                    limit,
                                ))),
                            })),
                    },
                }
            }
            Some((RequestCoding::Coded(coding), _)) => {
                // tower-http matches the lowercase token only.
                request.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    HeaderValue::from_static(coding.token()),
                );
                DecompressionFuture {
                    kind: FutureKind::Decoding {
                        future: self.inner.call(request),
                    },
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`RequestDecompression`].
    pub struct DecompressionFuture<F, B, E>
    where
        F: Future<Output = Result<Response<B>, E>>,
        B: Body,
    {
        #[pin]
        kind: FutureKind<F, B, E>,
    }
}

pin_project! {
    #[project = FutureProj]
    enum FutureKind<F, B, E>
    where
        F: Future<Output = Result<Response<B>, E>>,
        B: Body,
    {
        Plain { #[pin] future: F },
        Decoding { #[pin] future: RequestDecompressionFuture<F, B, E> },
        Rejected { response: Option<Response<FullBody>> },
    }
}

impl<F, B, E> Future for DecompressionFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<DecompressionResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = match self.project().kind.project() {
            FutureProj::Plain { future } => {
                ready!(future.poll(cx))?.map(|body| DecompressionResponseBody {
                    kind: EitherBody::left(body),
                })
            }
            FutureProj::Decoding { future } => {
                ready!(future.poll(cx))?.map(|body| DecompressionResponseBody {
                    kind: EitherBody::right(EitherBody::left(body)),
                })
            }
            FutureProj::Rejected { response } => response
                .take()
                .expect("polled after completion")
                .map(|body| DecompressionResponseBody {
                    kind: EitherBody::right(EitherBody::right(body)),
                }),
        };
        Poll::Ready(Ok(response))
    }
}

pin_project! {
    /// The request body the service behind [`RequestDecompression`] reads: as sent, or
    /// decoded and held to the body limit (past it, reading fails with
    /// `http_body_util::LengthLimitError`, which classification answers with 413).
    pub struct DecodedBody<B>
    where
        B: Body,
    {
        #[pin]
        kind: DecodedBodyKind<B>,
    }
}

/// As sent, or decoded as it is read: brotli and zstd by tower-http, gzip (every member) here.
type DecodedBodyKind<B> =
    EitherBody<B, EitherBody<Limited<DecompressionBody<B>>, Limited<GzipMembers<B>>>>;

/// A body's data as an I/O stream, its errors as I/O errors.
type DataStream<B> = MapErr<BodyDataStream<B>, fn(<B as Body>::Error) -> io::Error>;

fn io_error<E: Into<BoxError>>(err: E) -> io::Error {
    io::Error::other(err.into())
}

pin_project! {
    /// A gzip body decoded member after member (RFC 1952 §2.2), as it is read.
    pub struct GzipMembers<B>
    where
        B: Body,
    {
        #[pin]
        decoded: ReaderStream<GzipDecoder<StreamReader<DataStream<B>, B::Data>>>,
    }
}

impl<B> GzipMembers<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    fn new(body: B) -> Self {
        let data: DataStream<B> = body.into_data_stream().map_err(io_error::<B::Error>);
        let mut decoder = GzipDecoder::new(StreamReader::new(data));
        decoder.multiple_members(true);
        Self {
            decoded: ReaderStream::new(decoder),
        }
    }
}

impl<B> Body for GzipMembers<B>
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
        match ready!(self.project().decoded.poll_next(cx)) {
            None => Poll::Ready(None),
            Some(Ok(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Some(Err(err)) => Poll::Ready(Some(Err(err.into()))),
        }
    }
}

impl<B> Body for DecodedBody<B>
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

pin_project! {
    /// The response body of [`RequestDecompression`].
    pub struct DecompressionResponseBody<B>
    where
        B: Body,
    {
        #[pin]
        kind: DecompressionResponseBodyKind<B>,
    }
}

/// The inner service's body untouched, tower-http's (boxed), or our 415.
type DecompressionResponseBodyKind<B> =
    EitherBody<B, EitherBody<UnsyncBoxBody<Bytes, BoxError>, FullBody>>;

impl<B> Body for DecompressionResponseBody<B>
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
