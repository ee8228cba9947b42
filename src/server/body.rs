//! [`TimedBody`]: a request body that must arrive whole before a deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::error::{BodyReadTimeout, BoxError};

pin_project! {
    /// A request body as [`serve`](super::serve) hands it to the service: the connection's
    /// body, failing with [`BodyReadTimeout`] if it has not arrived whole within the
    /// configured body read timeout from the start of the request.
    pub struct TimedBody<B = hyper::body::Incoming> {
        #[pin]
        body: B,
        #[pin]
        deadline: Sleep,
        timed_out: bool,
    }
}

impl<B> TimedBody<B> {
    /// `body`, due within `timeout` from now.
    pub fn new(body: B, timeout: Duration) -> Self {
        Self {
            body,
            deadline: tokio::time::sleep(timeout),
            timed_out: false,
        }
    }
}

impl<B> Body for TimedBody<B>
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
        let this = self.project();
        if *this.timed_out {
            return Poll::Ready(None);
        }
        match this.body.poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|frame| frame.map_err(Into::into))),
            Poll::Pending => {
                if this.deadline.poll(cx).is_ready() {
                    *this.timed_out = true;
                    return Poll::Ready(Some(Err(Box::new(BodyReadTimeout))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.timed_out || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_fails_at_the_deadline() {
        let stalled = StreamBody::new(futures_util::stream::pending::<
            Result<Frame<Bytes>, std::convert::Infallible>,
        >());
        let body = TimedBody::new(stalled, Duration::from_secs(30));
        let err = body.collect().await.unwrap_err();
        assert!(err.downcast_ref::<BodyReadTimeout>().is_some(), "{err}");

        let whole = http_body_util::Full::new(Bytes::from_static(b"ok"));
        let body = TimedBody::new(whole, Duration::from_secs(30));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "ok");
    }
}

pin_project! {
    /// A response body that keeps its request counted as in flight (for the idle timeout)
    /// until it has been sent.
    pub struct ActiveBody<B> {
        #[pin]
        body: B,
        in_flight: super::connection::InFlight,
    }
}

impl<B> ActiveBody<B> {
    pub(crate) fn new(body: B, in_flight: super::connection::InFlight) -> Self {
        Self { body, in_flight }
    }
}

impl<B: Body> Body for ActiveBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
