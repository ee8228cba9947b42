//! [`CircuitBreaker`] and its response future: ask the circuit, call, report the outcome.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, MutexGuard};
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_service::Service;

use super::state::{Admission, Change, Tracked};
use super::{CircuitOpen, Shared};
use crate::error::BoxError;

/// The service built by [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
#[derive(Debug, Clone)]
pub struct CircuitBreaker<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> CircuitBreaker<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

impl Shared {
    fn circuit(&self) -> MutexGuard<'_, Tracked> {
        // The state is a few numbers: a panic elsewhere cannot leave it half-written.
        self.circuit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn log(change: Option<Change>) {
        match change {
            Some(Change::Opened) => tracing::info!(
                target: "mcp_bastion::client::breaker",
                "circuit opened: calls fail fast"
            ),
            Some(Change::HalfOpened) => tracing::info!(
                target: "mcp_bastion::client::breaker",
                "circuit half-open: probing"
            ),
            Some(Change::Closed) => tracing::info!(
                target: "mcp_bastion::client::breaker",
                "circuit closed: calls go through"
            ),
            None => {}
        }
    }

    fn record(&self, generation: u64, probe: bool, success: bool) {
        let change =
            self.circuit()
                .record(&self.settings, Instant::now(), generation, probe, success);
        Self::log(change);
    }
}

impl<S, B, ResBody> Service<Request<B>> for CircuitBreaker<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (admission, change, generation) = self
            .shared
            .circuit()
            .admit(&self.shared.settings, Instant::now());
        Shared::log(change);
        let probe = match admission {
            Admission::Refused(retry_in) => {
                return ResponseFuture {
                    call: None,
                    refused: Some(CircuitOpen { retry_in }),
                };
            }
            Admission::Call => false,
            Admission::Probe => true,
        };
        ResponseFuture {
            call: Some(Call {
                future: self.inner.call(request),
                outcome: Some(Outcome {
                    shared: Arc::clone(&self.shared),
                    generation,
                    probe,
                    reported: false,
                }),
            }),
            refused: None,
        }
    }
}

pin_project! {
    /// The response future of [`CircuitBreaker`].
    pub struct ResponseFuture<F> {
        #[pin]
        call: Option<Call<F>>,
        refused: Option<CircuitOpen>,
    }
}

pin_project! {
    struct Call<F> {
        #[pin]
        future: F,
        outcome: Option<Outcome>,
    }
}

/// Reports the call's outcome once; a call dropped before its end gives its probe slot back.
struct Outcome {
    shared: Arc<Shared>,
    /// The circuit's generation when the call was admitted.
    generation: u64,
    probe: bool,
    reported: bool,
}

impl Outcome {
    fn report(mut self, success: bool) {
        self.shared.record(self.generation, self.probe, success);
        self.reported = true;
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            self.shared.circuit().abandon_probe(self.generation);
        }
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<ResBody>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(call) = this.call.as_pin_mut() else {
            let refused = this.refused.take().expect("polled after completion");
            return Poll::Ready(Err(refused.into()));
        };
        let call = call.project();
        let answer = ready!(call.future.poll(cx));
        let success = match &answer {
            Ok(response) => !response.status().is_server_error(),
            Err(_) => false,
        };
        if let Some(outcome) = call.outcome.take() {
            outcome.report(success);
        }
        Poll::Ready(answer.map_err(Into::into))
    }
}
