//! One body of two kinds, read as `Bytes` with boxed errors: what every body of this module
//! is (as sent or decoded, compressed or plain, the inner answer or our refusal).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::BoxError;

pin_project! {
    #[project = EitherProj]
    pub(super) enum EitherBody<L, R> {
        Left { #[pin] body: L },
        Right { #[pin] body: R },
    }
}

impl<L, R> EitherBody<L, R> {
    pub(super) fn left(body: L) -> Self {
        Self::Left { body }
    }

    pub(super) fn right(body: R) -> Self {
        Self::Right { body }
    }
}

impl<L, R> Body for EitherBody<L, R>
where
    L: Body,
    L::Error: Into<BoxError>,
    R: Body,
    R::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            EitherProj::Left { body } => poll_bytes(body, cx),
            EitherProj::Right { body } => poll_bytes(body, cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Left { body } => body.is_end_stream(),
            Self::Right { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Left { body } => body.size_hint(),
            Self::Right { body } => body.size_hint(),
        }
    }
}

/// The next frame of `body`, its data as `Bytes` (no copy when it already is) and its error
/// boxed.
pub(super) fn poll_bytes<B>(
    body: Pin<&mut B>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    match ready!(body.poll_frame(cx)) {
        None => Poll::Ready(None),
        Some(Err(err)) => Poll::Ready(Some(Err(err.into()))),
        Some(Ok(frame)) => Poll::Ready(Some(Ok(
            frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
        ))),
    }
}
