//! [`RequestBody`]: the request body after a layer may have read it.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;

use crate::error::BoxError;

pin_project! {
    /// A request body as layers that inspect MCP requests pass it on: untouched, or already
    /// read into memory (so it is parsed once and never read twice from the network).
    pub struct RequestBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Streaming { #[pin] body: B },
        Buffered { #[pin] body: Full<Bytes> },
    }
}

impl<B> RequestBody<B> {
    /// The original body.
    pub fn streaming(body: B) -> Self {
        Self {
            kind: Kind::Streaming { body },
        }
    }

    /// A body already read into memory.
    pub fn buffered(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Buffered {
                body: Full::new(bytes),
            },
        }
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Streaming { body } => body.poll_frame(cx).map_err(Into::into),
            KindProj::Buffered { body } => body
                .poll_frame(cx)
                .map_err(|never: Infallible| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Streaming { body } => body.is_end_stream(),
            Kind::Buffered { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Streaming { body } => body.size_hint(),
            Kind::Buffered { body } => body.size_hint(),
        }
    }
}
