use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt};

use super::*;
use crate::context::{ContextEntry, ContextId, SourceRequest, source_fn};
use crate::mcp::McpService;

type Body = Full<Bytes>;

/// A source that takes `delay` and remembers the deadline it was given.
fn slow(
    delay: Duration,
) -> (
    impl crate::context::ContextSource + Clone,
    Arc<Mutex<Vec<bool>>>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let source = source_fn(move |_id: ContextId, request: SourceRequest| {
        record.lock().unwrap().push(request.deadline.is_some());
        async move {
            tokio::time::sleep(delay).await;
            Ok(ContextEntry::text("note", "text", "done"))
        }
    });
    (source, seen)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::default()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn past_the_limit_requests_are_refused_at_once() {
    let (source, _) = slow(Duration::from_secs(5));
    let layer = OverloadLayer::builder().max_concurrent(2).build().unwrap();
    let service = layer.layer(McpService::new(source));
    let running: Vec<_> = (0..2)
        .map(|_| tokio::spawn(service.clone().oneshot(get("/context/a"))))
        .collect();
    tokio::task::yield_now().await;
    // The third is answered without waiting for either slot.
    let started = tokio::time::Instant::now();
    let refused = service.clone().oneshot(get("/context/a")).await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("UNAVAILABLE"));
    let rpc = Request::post("/mcp").body(Body::default()).unwrap();
    let refused = service.clone().oneshot(rpc).await.unwrap();
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("\"jsonrpc\":\"2.0\""));
    for task in running {
        assert_eq!(task.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    // The slots are free again.
    let after = service.oneshot(get("/context/a")).await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_request_past_its_deadline_gets_504_and_the_source_knew_the_deadline() {
    let (source, seen) = slow(Duration::from_secs(60));
    let layer = OverloadLayer::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let service = layer.layer(McpService::new(source));
    let response = service.clone().oneshot(get("/context/a")).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(seen.lock().unwrap().as_slice(), [true]);
    // The slot of the abandoned request is free.
    let (quick, _) = slow(Duration::ZERO);
    let service = layer.layer(McpService::new(quick));
    assert_eq!(
        service.oneshot(get("/context/a")).await.unwrap().status(),
        StatusCode::OK
    );
}

#[test]
fn settings_are_validated() {
    assert!(OverloadLayer::builder().max_concurrent(0).build().is_err());
    assert!(
        OverloadLayer::builder()
            .timeout(Duration::ZERO)
            .build()
            .is_err()
    );
}
