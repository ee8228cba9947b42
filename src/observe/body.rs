//! [`ObservedBody`]: the answer's body, counted, writing the access log when it ends.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::access::{AccessLog, Ending};

pin_project! {
    /// The response body of [`ObserveService`](super::ObserveService): the inner body,
    /// unchanged; the access log is written when it ends (or is dropped).
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        log: Option<Box<AccessLog>>,
        bytes: u64,
    }

    impl<B> PinnedDrop for ObservedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before its end: cut off, after the bytes it did send.
            let this = this.project();
            if let Some(mut log) = this.log.take() {
                log.write(Ending::CutOff, *this.bytes);
            }
        }
    }
}

impl<B: Body> ObservedBody<B> {
    pub(crate) fn new(inner: B, mut log: Box<AccessLog>, head: bool) -> Self {
        // An empty body (204, 304), or any answer to HEAD, is never polled: the answer is
        // complete once its head is sent.
        let log = if head || inner.is_end_stream() {
            log.write(Ending::Complete, 0);
            None
        } else {
            Some(log)
        };
        Self {
            inner,
            log,
            bytes: 0,
        }
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    *this.bytes += bytes::Buf::remaining(data) as u64;
                }
                // A server stops polling once the body says it has ended.
                if this.inner.is_end_stream()
                    && let Some(mut log) = this.log.take()
                {
                    log.write(Ending::Complete, *this.bytes);
                }
            }
            Some(Err(_)) => {
                if let Some(mut log) = this.log.take() {
                    log.write(Ending::CutOff, *this.bytes);
                }
            }
            None => {
                if let Some(mut log) = this.log.take() {
                    log.write(Ending::Complete, *this.bytes);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
