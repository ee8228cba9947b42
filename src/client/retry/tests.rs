//! The retry policy against an in-memory server that answers from a script, in paused time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};

use super::*;

type Body = Full<Bytes>;

/// What the scripted server answers, in order; then 200.
#[derive(Clone)]
enum Answer {
    Status(u16),
    RetryAfter(u16, &'static str),
    Broken,
}

/// A server that answers `script` in order and notes when each attempt arrived.
#[derive(Clone, Default)]
struct Scripted {
    script: Arc<Mutex<VecDeque<Answer>>>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Scripted {
    fn new(script: impl IntoIterator<Item = Answer>) -> Self {
        Self {
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            arrivals: Arc::default(),
        }
    }

    fn service(
        &self,
    ) -> impl tower::Service<
        Request<Body>,
        Response = Response<Body>,
        Error = std::io::Error,
        Future = impl Send,
    > + Clone {
        let this = self.clone();
        service_fn(move |_: Request<Body>| {
            let this = this.clone();
            async move {
                this.arrivals.lock().unwrap().push(Instant::now());
                let answer = this.script.lock().unwrap().pop_front();
                let mut response = Response::new(Body::from("ok"));
                match answer {
                    None => {}
                    Some(Answer::Status(status)) => {
                        *response.status_mut() = StatusCode::from_u16(status).unwrap();
                    }
                    Some(Answer::RetryAfter(status, after)) => {
                        *response.status_mut() = StatusCode::from_u16(status).unwrap();
                        response
                            .headers_mut()
                            .insert(header::RETRY_AFTER, after.parse().unwrap());
                    }
                    Some(Answer::Broken) => {
                        return Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
                    }
                }
                Ok(response)
            }
        })
    }

    fn attempts(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }

    /// The waits between attempts.
    fn gaps(&self) -> Vec<Duration> {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals.windows(2).map(|pair| pair[1] - pair[0]).collect()
    }
}

fn get() -> Request<Body> {
    Request::get("/context/docs/a")
        .body(Body::default())
        .unwrap()
}

fn layer() -> RetryLayer {
    RetryLayer::builder()
        .max_attempts(4)
        .base_delay(Duration::from_millis(100))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_until_success_with_growing_waits() {
    let server = Scripted::new([Answer::Status(503), Answer::Status(503)]);
    let response = layer()
        .layer(server.service())
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.attempts(), 3);
    // Full jitter: each wait is at most base × 2^(retry − 1).
    let gaps = server.gaps();
    assert!(gaps[0] <= Duration::from_millis(100), "{gaps:?}");
    assert!(gaps[1] <= Duration::from_millis(200), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn waits_grow_on_average() {
    // Over many requests the mean wait before the second retry is about twice the first.
    let mut first = Duration::ZERO;
    let mut second = Duration::ZERO;
    for _ in 0..200 {
        let server = Scripted::new([Answer::Status(502), Answer::Status(502)]);
        let _ = layer()
            .layer(server.service())
            .oneshot(get())
            .await
            .unwrap();
        let gaps = server.gaps();
        first += gaps[0];
        second += gaps[1];
    }
    assert!(
        second > first + first / 2,
        "first {first:?}, second {second:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn other_statuses_are_never_retried() {
    for status in [400, 401, 403, 404, 409, 413, 500, 501] {
        let server = Scripted::new([Answer::Status(status)]);
        let response = layer()
            .layer(server.service())
            .oneshot(get())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(server.attempts(), 1, "{status}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_post_is_retried_only_when_marked_idempotent() {
    let post = || {
        Request::post("/mcp")
            .body(Body::from(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            ))
            .unwrap()
    };
    let server = Scripted::new([Answer::Status(503)]);
    let response = layer()
        .layer(server.service())
        .oneshot(post())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.attempts(), 1);

    let server = Scripted::new([Answer::Status(503)]);
    let mut read = post();
    read.extensions_mut().insert(Idempotent);
    let response = layer().layer(server.service()).oneshot(read).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.attempts(), 2);
}

#[tokio::test(start_paused = true)]
async fn transport_errors_are_retried_and_the_last_one_returned() {
    let server = Scripted::new([
        Answer::Broken,
        Answer::Broken,
        Answer::Broken,
        Answer::Broken,
    ]);
    let error = layer()
        .layer(server.service())
        .oneshot(get())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(server.attempts(), 4);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited_for_and_a_long_one_is_returned() {
    let server = Scripted::new([Answer::RetryAfter(429, "3")]);
    let response = layer()
        .layer(server.service())
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        server.gaps()[0] >= Duration::from_secs(3),
        "{:?}",
        server.gaps()
    );

    // Longer than the maximum delay (10 s): not waited for, the caller sees it.
    let server = Scripted::new([Answer::RetryAfter(503, "120")]);
    let response = layer()
        .layer(server.service())
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.attempts(), 1);
}

#[test]
fn retry_after_reads_seconds_and_dates_and_ignores_garbage() {
    let headers = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, value.parse().unwrap());
        headers
    };
    assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
    assert_eq!(retry_after(&headers(" 0 ")), Some(Duration::ZERO));
    // A date in the past: no wait.
    assert_eq!(
        retry_after(&headers("Sun, 06 Nov 1994 08:49:37 GMT")),
        Some(Duration::ZERO)
    );
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30);
    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&soon)
        .unwrap();
    let wait = retry_after(&headers(&date)).unwrap();
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    for garbage in ["-1", "soon", "1.5", "99999999999999999999999"] {
        assert_eq!(retry_after(&headers(garbage)), None, "{garbage}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_budget_stops_a_retry_storm() {
    // A server that always fails: without a budget 100 requests would make 400 attempts.
    let layer = RetryLayer::builder()
        .max_attempts(4)
        .budget(Duration::from_secs(10), 1, 0.1)
        .build()
        .unwrap();
    let server = Scripted::default();
    *server.script.lock().unwrap() = std::iter::repeat_n(Answer::Status(503), 1000).collect();
    let service = layer.layer(server.service());
    for _ in 0..100 {
        let response = service.clone().oneshot(get()).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let retries = server.attempts() - 100;
    // 10% of 100 requests plus one a second over the window, give or take tower's rounding.
    assert!(retries <= 25, "{retries} retries");
    assert!(retries >= 1, "the budget allows some retries");
}

#[test]
fn the_builder_refuses_nonsense() {
    assert!(RetryLayer::builder().max_attempts(0).build().is_err());
    assert!(RetryLayer::builder().max_attempts(11).build().is_err());
    assert!(
        RetryLayer::builder()
            .base_delay(Duration::ZERO)
            .build()
            .is_err()
    );
    assert!(
        RetryLayer::builder()
            .base_delay(Duration::from_secs(20))
            .build()
            .is_err()
    );
    assert!(
        RetryLayer::builder()
            .max_delay(Duration::from_secs(301))
            .build()
            .is_err()
    );
    assert!(
        RetryLayer::builder()
            .budget(Duration::from_secs(10), 1, 1.5)
            .build()
            .is_err()
    );
    assert!(
        RetryLayer::builder()
            .budget(Duration::ZERO, 1, 0.2)
            .build()
            .is_err()
    );
    // One attempt: nothing is retried.
    let once = RetryLayer::builder().max_attempts(1).build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let server = Scripted::new([Answer::Status(503)]);
    let response = runtime
        .block_on(once.layer(server.service()).oneshot(get()))
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.attempts(), 1);
}

#[test]
fn only_transient_statuses_count() {
    let retried: Vec<u16> = (100..600)
        .filter(|status| StatusCode::from_u16(*status).is_ok_and(transient))
        .collect();
    assert_eq!(retried, [429, 502, 503, 504]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_keeps_the_request_extensions() {
    // The TraceContext a source puts in the extensions must reach TraceparentLayer (inside
    // the retries) on every attempt, not on the first only.
    use crate::client::TraceparentLayer;
    use crate::context::TraceContext;
    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let sent = Arc::new(Mutex::new(Vec::new()));
    let server = {
        let sent = Arc::clone(&sent);
        service_fn(move |request: Request<Body>| {
            let sent = Arc::clone(&sent);
            async move {
                let mut sent = sent.lock().unwrap();
                sent.push(request.headers().get("traceparent").cloned());
                let mut response = Response::new(Body::default());
                if sent.len() == 1 {
                    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                }
                Ok::<_, std::io::Error>(response)
            }
        })
    };
    let client = layer().layer(TraceparentLayer::new().layer(server));
    let mut request = get();
    request
        .extensions_mut()
        .insert(TraceContext::parse(PARENT, None).unwrap());
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|parent| parent.as_ref().is_some_and(|p| p == PARENT)),
        "{sent:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn hostile_retry_after_values_neither_panic_nor_stall() {
    // Held up: enormous, overflowing, negative, fractional, far-future and far-past values.
    for after in [
        "18446744073709551615",
        "99999999999999999999999999",
        "-1",
        "1.5",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ] {
        let server = Scripted::new([Answer::RetryAfter(503, after)]);
        let started = Instant::now();
        let response = layer()
            .layer(server.service())
            .oneshot(get())
            .await
            .unwrap();
        assert!(started.elapsed() <= DEFAULT_MAX_DELAY, "{after}");
        assert!(server.attempts() <= 2, "{after}");
        let _ = response;
    }
    // From a 200 or a 4xx it is never a reason to wait or retry.
    for status in [200, 400, 401] {
        let server = Scripted::new([Answer::RetryAfter(status, "1")]);
        let response = layer()
            .layer(server.service())
            .oneshot(get())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(server.attempts(), 1);
    }
}
