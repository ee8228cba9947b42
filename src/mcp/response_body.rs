//! [`ResponseBody`]: what [`McpService`](super::McpService) answers with.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::FullBody;

/// The chunks of a streamed answer.
type Chunks = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

pin_project! {
    /// The body of an [`McpService`](super::McpService) response: a whole answer (JSON, an
    /// error envelope), or a stream of server-sent events (a slow MCP read answered with
    /// progress notifications) that ends by itself. It never fails.
    ///
    /// ```
    /// use http_body::Body;
    /// use mcp_bastion::mcp::ResponseBody;
    ///
    /// let body = ResponseBody::from(bytes::Bytes::from_static(b"{}"));
    /// assert_eq!(body.size_hint().exact(), Some(2));
    /// ```
    pub struct ResponseBody {
        #[pin]
        kind: Kind,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind {
        Whole { #[pin] body: FullBody },
        Stream { chunks: Chunks },
    }
}

impl ResponseBody {
    /// A stream of chunks, sent as they come.
    pub(crate) fn stream(chunks: impl Stream<Item = Bytes> + Send + 'static) -> Self {
        Self {
            kind: Kind::Stream {
                chunks: Box::pin(chunks),
            },
        }
    }

    /// Whether this body is a stream (its length unknown until it ends).
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stream { .. })
    }
}

impl Default for ResponseBody {
    fn default() -> Self {
        Self::from(FullBody::default())
    }
}

impl From<FullBody> for ResponseBody {
    fn from(body: FullBody) -> Self {
        Self {
            kind: Kind::Whole { body },
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        Self::from(FullBody::new(bytes))
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_stream() { "stream" } else { "whole" };
        f.debug_struct("ResponseBody").field("kind", &kind).finish()
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.project().kind.project() {
            KindProj::Whole { body } => body.poll_frame(cx),
            KindProj::Stream { chunks } => chunks
                .as_mut()
                .poll_next(cx)
                .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Whole { body } => body.is_end_stream(),
            Kind::Stream { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Whole { body } => body.size_hint(),
            Kind::Stream { .. } => SizeHint::default(),
        }
    }
}
