//! [`Reservation`]: the failed-authentication unit a request holds while it is
//! authenticated, and [`InFlight`]: how many an address holds, so a request refused only
//! because others are still being authenticated can wait for them instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{Response, StatusCode};
use tokio::sync::Notify;

use super::limits::RateLimits;
use super::quota::Quota;
use super::store::{StoreAnswer, StoreError, Verdict};
use crate::error::refuses_credential;

/// Longest a request waits for the requests of its address that are being authenticated.
pub(crate) const SETTLE_WAIT: Duration = Duration::from_secs(5);

/// Reservations held, by address key. An entry lives while its count is above zero, so the
/// map holds at most one entry per request in flight.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    held: Mutex<HashMap<String, Holding>>,
}

#[derive(Debug)]
struct Holding {
    count: usize,
    settled: Arc<Notify>,
}

impl InFlight {
    fn enter(&self, key: &str) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.entry(key.to_owned())
            .or_insert_with(|| Holding {
                count: 0,
                settled: Arc::new(Notify::new()),
            })
            .count += 1;
    }

    fn leave(&self, key: &str) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(holding) = held.get_mut(key) {
            holding.count -= 1;
            holding.settled.notify_waiters();
            if holding.count == 0 {
                held.remove(key);
            }
        }
    }

    /// What wakes when a reservation of `key` settles; `None` when none is held.
    fn waiter(&self, key: &str) -> Option<Arc<Notify>> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(key).map(|holding| Arc::clone(&holding.settled))
    }

    /// `verdict` on a reservation for `key`; when it is a refusal while other requests of
    /// `key` are being authenticated, waits (up to [`SETTLE_WAIT`]) for them to settle and
    /// asks again: a unit they give back is this request's. Guesses stay serialised (no
    /// more in flight than the quota's units), valid requests are not refused for waiting.
    pub(crate) async fn settled(
        &self,
        limits: &RateLimits,
        quota: &Quota,
        key: &str,
        mut verdict: Result<Verdict, StoreError>,
    ) -> Result<Verdict, StoreError> {
        let give_up = tokio::time::Instant::now() + SETTLE_WAIT;
        while matches!(verdict, Ok(Verdict::Limited { .. })) {
            let Some(settled) = self.waiter(key) else {
                break;
            };
            // Registered before asking again, so a settle in between is not missed.
            let next = settled.notified();
            verdict = limits.store.charge(quota, key, 1).resolve().await;
            if !matches!(verdict, Ok(Verdict::Limited { .. }))
                || tokio::time::timeout_at(give_up, next).await.is_err()
            {
                break;
            }
            verdict = limits.store.charge(quota, key, 1).resolve().await;
        }
        verdict
    }

    /// Whether a request of `key` is being authenticated.
    pub(crate) fn is_held(&self, key: &str) -> bool {
        self.waiter(key).is_some()
    }
}

/// A failed-authentication unit held for a request while it is authenticated (so guesses
/// in flight count before their answers). It goes back as soon as the request gets past
/// authentication, when its answer is anything but a refused credential, and when the
/// request ends without an answer (cut off: it learnt nothing).
#[derive(Debug, Clone)]
pub(crate) struct Reservation(Arc<Held>);

#[derive(Debug)]
struct Held {
    limits: RateLimits,
    in_flight: Arc<InFlight>,
    key: String,
    settled: AtomicBool,
}

impl Reservation {
    pub(crate) fn new(limits: RateLimits, in_flight: Arc<InFlight>, key: String) -> Self {
        in_flight.enter(&key);
        Self(Arc::new(Held {
            limits,
            in_flight,
            key,
            settled: AtomicBool::new(false),
        }))
    }

    /// The request is past authentication: the unit goes back (once).
    pub(crate) fn release(&self) {
        self.0.finish(true);
    }

    /// The answer is in: a refused credential keeps the unit spent; anything else gives it
    /// back. A request without credentials is not a failure.
    pub(crate) fn settle<B>(&self, response: &Response<B>) {
        self.0.finish(!refused_credential(response));
    }
}

impl Held {
    fn finish(&self, give_back: bool) {
        if self.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        if give_back && let Some(quota) = self.limits.failed_auth() {
            match self.limits.store.refund(quota, &self.key, 1) {
                StoreAnswer::Ready(Ok(())) => {}
                StoreAnswer::Ready(Err(err)) => {
                    tracing::warn!(error = %err, "failed-authentication unit not given back");
                }
                StoreAnswer::Pending(refund) => {
                    tokio::spawn(async move {
                        if let Err(err) = refund.await {
                            tracing::warn!(error = %err, "failed-authentication unit not given back");
                        }
                    });
                }
            }
        }
        self.in_flight.leave(&self.key);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.finish(true);
    }
}

/// A credential was presented and refused: RFC 6750 `error="invalid_token"` on a 401, or on
/// a gRPC answer with status 16 (UNAUTHENTICATED: gRPC answers HTTP 200).
fn refused_credential<B>(response: &Response<B>) -> bool {
    let unauthenticated = response.status() == StatusCode::UNAUTHORIZED
        || response
            .headers()
            .get("grpc-status")
            .is_some_and(|status| status == "16");
    unauthenticated && refuses_credential(response.headers())
}
