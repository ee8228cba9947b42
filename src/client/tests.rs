//! The client layers stacked as the module documentation shows, in paused time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::timeout::TimeoutLayer;
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::*;
use crate::error::BoxError;

type Body = Full<Bytes>;

/// A server whose first `slow` answers take a minute, the rest come at once.
fn server(
    slow: usize,
    calls: &Arc<AtomicUsize>,
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future = impl Send>
+ Clone {
    let calls = Arc::clone(calls);
    service_fn(move |request: Request<Body>| {
        let call = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if call < slow {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            let mut response = Response::new(Body::default());
            if request.headers().get("authorization").is_none() {
                *response.status_mut() = StatusCode::UNAUTHORIZED;
            }
            Ok::<_, BoxError>(response)
        }
    })
}

fn get() -> Request<Body> {
    Request::get("/context/docs/a")
        .body(Body::default())
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_retried_within_the_overall_deadline() {
    let calls = Arc::new(AtomicUsize::new(0));
    let client = ServiceBuilder::new()
        .layer(TimeoutLayer::new(Duration::from_secs(30)))
        .layer(RetryLayer::builder().build().unwrap())
        .layer(TimeoutLayer::new(Duration::from_secs(2)))
        .layer(BearerLayer::new("user-dev-token").unwrap())
        .service(server(1, &calls));
    let started = tokio::time::Instant::now();
    let response = client.oneshot(get()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn the_overall_deadline_ends_the_retries() {
    let calls = Arc::new(AtomicUsize::new(0));
    let client = ServiceBuilder::new()
        .layer(TimeoutLayer::new(Duration::from_secs(5)))
        .layer(RetryLayer::builder().max_attempts(10).build().unwrap())
        .layer(TimeoutLayer::new(Duration::from_secs(2)))
        .service(server(usize::MAX, &calls));
    let started = tokio::time::Instant::now();
    let error = client.oneshot(get()).await.unwrap_err();
    assert!(error.is::<tower::timeout::error::Elapsed>(), "{error}");
    assert!(started.elapsed() <= Duration::from_secs(5));
    assert!(calls.load(Ordering::SeqCst) <= 3);
}
