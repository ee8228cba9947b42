use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::FullBody;

pin_project! {
    /// The response body of a layer that may answer by itself: the inner service's body, or
    /// an error envelope.
    pub struct BodyOrEnvelope<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Envelope { #[pin] body: FullBody },
    }
}

impl<B> BodyOrEnvelope<B> {
    /// Wraps the inner service's body.
    pub fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    /// Wraps an envelope.
    pub fn envelope(body: FullBody) -> Self {
        Self {
            kind: Kind::Envelope { body },
        }
    }
}

impl<B: Body<Data = Bytes>> Body for BodyOrEnvelope<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Envelope { body } => body.poll_frame(cx).map(|frame| {
                frame.map(|result| result.map_err(|never: Infallible| match never {}))
            }),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Envelope { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Envelope { body } => body.size_hint(),
        }
    }
}
