//! The breaker around an in-memory server whose health the test switches, in paused time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;

type Body = Full<Bytes>;

/// A server that answers 503 while `down`, and counts the calls that reach it.
#[derive(Clone, Default)]
struct Server {
    down: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl Server {
    fn service(
        &self,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = std::io::Error> + Clone
    {
        let this = self.clone();
        service_fn(move |_: Request<Body>| {
            let this = this.clone();
            async move {
                this.calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                let mut response = Response::new(Body::default());
                if this.down.load(Ordering::SeqCst) {
                    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                }
                Ok(response)
            }
        })
    }
}

fn breaker() -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .failure_ratio(0.5)
        .minimum_calls(4)
        .window(Duration::from_secs(10))
        .open_for(Duration::from_secs(5))
        .probes(2)
        .build()
        .unwrap()
}

fn get() -> Request<Body> {
    Request::get("/context/docs/a")
        .body(Body::default())
        .unwrap()
}

/// Calls once: `Ok(status)` or `Err(retry_in)` when the circuit refused.
async fn call<S>(service: &S) -> Result<StatusCode, Duration>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone,
{
    match service.clone().oneshot(get()).await {
        Ok(response) => Ok(response.status()),
        Err(error) => Err(error
            .downcast_ref::<CircuitOpen>()
            .expect("only the breaker fails here")
            .retry_in()),
    }
}

use crate::error::BoxError;

#[tokio::test(start_paused = true)]
async fn opens_fails_fast_half_opens_and_closes() {
    let server = Server::default();
    let service = breaker().layer(server.service());
    server.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        assert_eq!(call(&service).await, Ok(StatusCode::SERVICE_UNAVAILABLE));
    }
    // Open: refused without reaching the server.
    let retry_in = call(&service).await.unwrap_err();
    assert!(retry_in <= Duration::from_secs(5) && retry_in > Duration::from_secs(4));
    assert_eq!(server.calls.load(Ordering::SeqCst), 4);

    // After open_for, probes go through; the server is back, two successes close it.
    server.down.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(call(&service).await, Ok(StatusCode::OK));
    assert_eq!(call(&service).await, Ok(StatusCode::OK));
    for _ in 0..10 {
        assert_eq!(call(&service).await, Ok(StatusCode::OK));
    }
    assert_eq!(server.calls.load(Ordering::SeqCst), 16);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_opens_it_again() {
    let server = Server::default();
    let service = breaker().layer(server.service());
    server.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        let _ = call(&service).await;
    }
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(call(&service).await, Ok(StatusCode::SERVICE_UNAVAILABLE));
    assert!(call(&service).await.is_err());
    assert_eq!(server.calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn client_errors_do_not_open_it() {
    let service = breaker().layer(service_fn(|_: Request<Body>| async {
        let mut response = Response::new(Body::default());
        *response.status_mut() = StatusCode::NOT_FOUND;
        Ok::<_, std::io::Error>(response)
    }));
    for _ in 0..20 {
        assert_eq!(call(&service).await, Ok(StatusCode::NOT_FOUND));
    }
}

#[tokio::test(start_paused = true)]
async fn clones_share_the_circuit_and_probes_are_bounded() {
    let server = Server::default();
    let layer = breaker();
    let one = layer.layer(server.service());
    let other = layer.layer(server.service());
    server.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        let _ = call(&one).await;
    }
    assert!(
        call(&other).await.is_err(),
        "the other service sees it open"
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    // Three calls at once while half-open: two probes go, the third is refused.
    server.down.store(false, Ordering::SeqCst);
    let (a, b, c) = tokio::join!(call(&one), call(&other), call(&one));
    let refused = [a, b, c].iter().filter(|answer| answer.is_err()).count();
    assert_eq!(refused, 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_gives_its_slot_back() {
    let server = Server::default();
    let service = breaker().layer(server.service());
    server.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        let _ = call(&service).await;
    }
    tokio::time::advance(Duration::from_secs(5)).await;
    server.down.store(false, Ordering::SeqCst);
    for _ in 0..2 {
        // Dropped before the server answers.
        let pending = service.clone().oneshot(get());
        let _ = tokio::time::timeout(Duration::from_millis(1), pending).await;
    }
    assert_eq!(call(&service).await, Ok(StatusCode::OK));
}

/// The figure for the note: calls that reach a server that is down for 10 s, one call every
/// 10 ms, with and without the breaker.
#[tokio::test(start_paused = true)]
async fn the_breaker_spares_a_failing_server() {
    async fn reached(with_breaker: bool) -> usize {
        let server = Server::default();
        server.down.store(true, Ordering::SeqCst);
        let bare = server.service().map_err(BoxError::from);
        let broken = breaker().layer(server.service());
        let started = tokio::time::Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            let _ = if with_breaker {
                call(&broken).await
            } else {
                call(&bare).await
            };
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.calls.load(Ordering::SeqCst)
    }
    let without = reached(false).await;
    let with = reached(true).await;
    // Without: every call (~500); with: 4 to open, then one probe every 5 s.
    assert!(without > 400, "{without}");
    assert!(with <= 10, "{with}");
}

#[test]
fn the_builder_refuses_nonsense() {
    assert!(
        CircuitBreakerLayer::builder()
            .failure_ratio(0.0)
            .build()
            .is_err()
    );
    assert!(
        CircuitBreakerLayer::builder()
            .failure_ratio(1.5)
            .build()
            .is_err()
    );
    assert!(
        CircuitBreakerLayer::builder()
            .failure_ratio(f64::NAN)
            .build()
            .is_err()
    );
    assert!(
        CircuitBreakerLayer::builder()
            .minimum_calls(0)
            .build()
            .is_err()
    );
    assert!(
        CircuitBreakerLayer::builder()
            .window(Duration::ZERO)
            .build()
            .is_err()
    );
    assert!(
        CircuitBreakerLayer::builder()
            .open_for(Duration::from_secs(7200))
            .build()
            .is_err()
    );
    assert!(CircuitBreakerLayer::builder().probes(0).build().is_err());
    assert!(CircuitBreakerLayer::builder().build().is_ok());
}

/// A server that answers each request after its `x-delay` (ms) with its `x-status`.
fn told()
-> impl Service<Request<Body>, Response = Response<Body>, Error = std::io::Error, Future = impl Send>
+ Clone
+ Send
+ 'static {
    service_fn(|request: Request<Body>| async move {
        let number = |name: &str| -> u64 {
            request
                .headers()
                .get(name)
                .map_or(0, |value| value.to_str().unwrap().parse().unwrap())
        };
        tokio::time::sleep(Duration::from_millis(number("x-delay"))).await;
        let mut response = Response::new(Body::default());
        *response.status_mut() =
            StatusCode::from_u16(u16::try_from(number("x-status")).unwrap()).unwrap();
        Ok(response)
    })
}

fn told_to(delay_ms: u64, status: u16) -> Request<Body> {
    Request::get("/context/docs/a")
        .header("x-delay", delay_ms)
        .header("x-status", status)
        .body(Body::default())
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_probe_from_an_earlier_half_open_round_does_not_count_in_the_next() {
    let service = CircuitBreakerLayer::builder()
        .failure_ratio(0.5)
        .minimum_calls(1)
        .open_for(Duration::from_secs(1))
        .probes(2)
        .build()
        .unwrap()
        .layer(told());
    let spawn = |delay, status| {
        let call = service.clone().oneshot(told_to(delay, status));
        tokio::spawn(call)
    };
    // Opens.
    assert!(service.clone().oneshot(told_to(0, 500)).await.is_ok());
    tokio::time::advance(Duration::from_secs(1)).await;
    // Round 1: A fails after 1 s (reopening the circuit), B succeeds after 5 s.
    let a = spawn(1_000, 500);
    let b = spawn(5_000, 200);
    a.await.unwrap().unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    // Round 2: C is slow; B (from round 1) ends meanwhile.
    let _c = spawn(100_000, 200);
    tokio::task::yield_now().await;
    b.await.unwrap().unwrap();
    // D succeeds: one success of round 2, with C still out. Not enough to close with 2
    // probes; the two slots (C and E) are taken, so F must be refused.
    assert!(service.clone().oneshot(told_to(0, 200)).await.is_ok());
    let _e = spawn(100_000, 200);
    tokio::task::yield_now().await;
    let f = service.clone().oneshot(told_to(0, 200)).await;
    assert!(
        f.is_err_and(|error| error.is::<CircuitOpen>()),
        "round 1's probe closed round 2's circuit"
    );
}

#[tokio::test(start_paused = true)]
async fn a_probe_from_an_earlier_round_cancelled_later_frees_no_slot_of_the_next() {
    let service = CircuitBreakerLayer::builder()
        .failure_ratio(0.5)
        .minimum_calls(1)
        .open_for(Duration::from_secs(1))
        .probes(2)
        .build()
        .unwrap()
        .layer(told());
    let spawn = |delay, status| {
        let call = service.clone().oneshot(told_to(delay, status));
        tokio::spawn(call)
    };
    assert!(service.clone().oneshot(told_to(0, 500)).await.is_ok());
    tokio::time::advance(Duration::from_secs(1)).await;
    // Round 1: A fails after 1 s (reopening), B hangs.
    let a = spawn(1_000, 500);
    let b = spawn(1_000_000, 200);
    a.await.unwrap().unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    // Round 2: both slots taken by hanging probes.
    let _c = spawn(1_000_000, 200);
    let _d = spawn(1_000_000, 200);
    tokio::task::yield_now().await;
    // The caller of round 1's B gives up.
    b.abort();
    let _ = b.await;
    let e = service.clone().oneshot(told_to(0, 200)).await;
    assert!(
        e.is_err_and(|error| error.is::<CircuitOpen>()),
        "a third probe went out with two allowed"
    );
}
