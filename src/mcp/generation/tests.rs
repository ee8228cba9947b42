use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::AsyncGeneration;
use crate::context::{
    ContextEntry, ContextId, ContextSource, SourceError, SourceRequest, source_fn,
};
use crate::mcp::{Endpoint, McpService, ResponseBody};
use crate::principal::{AuthMethod, Principal};

type Body = Full<Bytes>;

/// What the test source saw: calls started, calls finished, calls dropped unfinished.
#[derive(Default)]
struct Counts {
    started: AtomicUsize,
    finished: AtomicUsize,
    dropped: AtomicUsize,
}

/// Counts a source call dropped before it finished.
struct Unfinished(Arc<Counts>, bool);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.1 {
            self.0.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A source taking `delay` for every id; ids under `fail/` then fail, `boom/` panics, and the
/// content names the principal who asked.
fn slow(delay: Duration) -> (impl ContextSource, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let seen = Arc::clone(&counts);
    let source = source_fn(move |id: ContextId, request: SourceRequest| {
        let counts = Arc::clone(&seen);
        counts.started.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut guard = Unfinished(Arc::clone(&counts), false);
            tokio::time::sleep(delay).await;
            guard.1 = true;
            counts.finished.fetch_add(1, Ordering::SeqCst);
            if id.as_str().starts_with("fail/") {
                return Err(SourceError::Unavailable("upstream down".into()));
            }
            assert!(!id.as_str().starts_with("boom/"), "the source broke");
            let who = request
                .principal
                .map_or_else(|| "anonymous".to_owned(), |p| p.identity().to_owned());
            Ok(ContextEntry::text(
                "report",
                "markdown",
                format!("for {who}"),
            ))
        }
    });
    (source, counts)
}

fn service(
    delay: Duration,
    settings: AsyncGeneration,
) -> (McpService<impl ContextSource>, Arc<Counts>) {
    let (source, counts) = slow(delay);
    let endpoint = Endpoint::builder()
        .async_generation(settings)
        .build()
        .unwrap();
    (McpService::with_endpoint(source, endpoint), counts)
}

fn get(path: &str, who: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path).body(Body::default()).unwrap();
    if let Some(who) = who {
        request
            .extensions_mut()
            .insert(Principal::new(who, AuthMethod::ApiKey));
    }
    request
}

async fn send<S: ContextSource>(
    service: &McpService<S>,
    request: Request<Body>,
) -> (Response<()>, Value) {
    let response: Response<ResponseBody> = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (Response::from_parts(parts, ()), value)
}

fn jobs<S: ContextSource>(service: &McpService<S>) -> usize {
    service.shared.jobs.as_ref().unwrap().len()
}

#[tokio::test(start_paused = true)]
async fn a_slow_read_answers_202_and_the_poll_gets_the_context() {
    let (service, counts) = service(Duration::from_secs(3), AsyncGeneration::new());
    let (pending, body) = send(
        &service,
        get("/context/alpha/report?select=lines=1-1", None),
    )
    .await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    assert_eq!(pending.headers()[header::RETRY_AFTER], "1");
    assert_eq!(
        pending.headers()[header::LOCATION],
        "/context/alpha/report?select=lines=1-1"
    );
    assert_eq!(pending.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["contextId"], "alpha/report");
    assert_eq!(body["retryAfter"], 1);
    // The poll waits for the rest of the generation and gets the context.
    let (done, body) = send(
        &service,
        get("/context/alpha/report?select=lines=1-1", None),
    )
    .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(body["data"]["content"], "for anonymous");
    assert_eq!(counts.started.load(Ordering::SeqCst), 1);
    assert_eq!(jobs(&service), 0, "picked up: forgotten");
    // The next read generates again.
    let (again, _) = send(
        &service,
        get("/context/alpha/report?select=lines=1-1", None),
    )
    .await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(counts.started.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_fast_read_answers_200_at_once() {
    let (service, counts) = service(Duration::from_millis(500), AsyncGeneration::new());
    let (done, body) = send(&service, get("/context/alpha/report", None)).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(body["data"]["content"], "for anonymous");
    assert_eq!(counts.started.load(Ordering::SeqCst), 1);
    assert_eq!(jobs(&service), 0);
}

#[tokio::test(start_paused = true)]
async fn concurrent_readers_share_one_source_call() {
    let (service, counts) = service(Duration::from_secs(3), AsyncGeneration::new());
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                send(&service, get("/context/alpha/report", None))
                    .await
                    .0
                    .status()
            })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), StatusCode::ACCEPTED);
    }
    // Two readers waiting when it finishes both get the result.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                send(&service, get("/context/alpha/report", None))
                    .await
                    .0
                    .status()
            })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(counts.started.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_job_nobody_polls_is_cancelled_and_leaves_nothing() {
    let settings = AsyncGeneration::new().abandon_after(Duration::from_secs(10));
    let (service, counts) = service(Duration::from_secs(60), settings);
    let (pending, _) = send(&service, get("/context/alpha/report", None)).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    // Polled once, then forgotten by its client.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (pending, _) = send(&service, get("/context/alpha/report", None)).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    assert_eq!(jobs(&service), 1);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(
        counts.dropped.load(Ordering::SeqCst),
        1,
        "the source call was cancelled"
    );
    assert_eq!(counts.finished.load(Ordering::SeqCst), 0);
    assert_eq!(jobs(&service), 0);
    // A later read starts over.
    let (pending, _) = send(&service, get("/context/alpha/report", None)).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    assert_eq!(counts.started.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn an_unclaimed_result_is_dropped_after_keep_for() {
    let settings = AsyncGeneration::new().keep_for(Duration::from_secs(5));
    let (service, counts) = service(Duration::from_secs(3), settings);
    let (pending, _) = send(&service, get("/context/alpha/report", None)).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(counts.finished.load(Ordering::SeqCst), 1);
    assert_eq!(jobs(&service), 1, "kept for its pickup");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(jobs(&service), 0);
}

#[tokio::test(start_paused = true)]
async fn a_full_job_table_answers_503_with_retry_after() {
    let settings = AsyncGeneration::new().max_jobs(2).max_concurrent(1);
    let (service, counts) = service(Duration::from_secs(60), settings);
    for id in ["a/1", "a/2"] {
        let (pending, _) = send(&service, get(&format!("/context/{id}"), None)).await;
        assert_eq!(pending.status(), StatusCode::ACCEPTED);
    }
    // One generation at a time: the second job queues.
    assert_eq!(counts.started.load(Ordering::SeqCst), 1);
    let (busy, body) = send(&service, get("/context/a/3", None)).await;
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
    assert_eq!(body["code"], "UNAVAILABLE");
    assert_eq!(jobs(&service), 2);
    // Polling a job already in the table still works.
    let (pending, _) = send(&service, get("/context/a/1", None)).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
}

#[tokio::test(start_paused = true)]
async fn one_caller_cannot_fill_the_table() {
    let settings = AsyncGeneration::new().max_jobs(10).max_per_caller(2);
    let (service, _) = service(Duration::from_secs(60), settings);
    for id in ["a/1", "a/2"] {
        let (pending, _) = send(&service, get(&format!("/context/{id}"), Some("mallory"))).await;
        assert_eq!(pending.status(), StatusCode::ACCEPTED);
    }
    // Mallory's own excess: 429 (a full table is the server's: 503, above).
    let (busy, body) = send(&service, get("/context/a/3", Some("mallory"))).await;
    assert_eq!(busy.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "RATE_LIMITED");
    assert!(busy.headers().contains_key(header::RETRY_AFTER));
    // Others still get jobs.
    let (pending, _) = send(&service, get("/context/a/3", Some("alice"))).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    assert_eq!(jobs(&service), 3);
    // Once Mallory's jobs are gone (abandoned), Mallory may start new ones.
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(jobs(&service), 0);
    let (pending, _) = send(&service, get("/context/a/3", Some("mallory"))).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
}

#[tokio::test(start_paused = true)]
async fn a_failed_generation_is_reported_once() {
    let (service, counts) = service(Duration::from_secs(3), AsyncGeneration::new());
    let (pending, _) = send(&service, get("/context/fail/report", None)).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    let (failed, body) = send(&service, get("/context/fail/report", None)).await;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "UNAVAILABLE");
    assert!(
        !body.to_string().contains("upstream down"),
        "internals stay inside"
    );
    let (again, _) = send(&service, get("/context/fail/report", None)).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED, "a new job");
    assert_eq!(counts.started.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_generation_answers_500_and_leaves_no_job() {
    let (service, _) = service(Duration::from_secs(3), AsyncGeneration::new());
    let (pending, _) = send(&service, get("/context/boom/report", None)).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    let (failed, body) = send(&service, get("/context/boom/report", None)).await;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["code"], "INTERNAL");
    assert_eq!(jobs(&service), 0);
}

#[tokio::test(start_paused = true)]
async fn a_job_is_never_handed_to_another_principal() {
    let (service, counts) = service(Duration::from_secs(3), AsyncGeneration::new());
    let (pending, _) = send(&service, get("/context/alpha/report", Some("alice"))).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Alice's result is ready; Bob gets a job of his own.
    let (bob, _) = send(&service, get("/context/alpha/report", Some("bob"))).await;
    assert_eq!(bob.status(), StatusCode::ACCEPTED);
    let (alice, body) = send(&service, get("/context/alpha/report", Some("alice"))).await;
    assert_eq!(alice.status(), StatusCode::OK);
    assert_eq!(body["data"]["content"], "for ApiKey:alice");
    let (bob, body) = send(&service, get("/context/alpha/report", Some("bob"))).await;
    assert_eq!(bob.status(), StatusCode::OK);
    assert_eq!(body["data"]["content"], "for ApiKey:bob");
    assert_eq!(counts.started.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_request_deadline_shortens_the_wait() {
    let (service, _) = service(Duration::from_secs(3), AsyncGeneration::new());
    let mut request = get("/context/alpha/report", None);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    request
        .extensions_mut()
        .insert(crate::context::Deadline(deadline));
    let (pending, _) = send(&service, request).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    assert!(
        tokio::time::Instant::now() < deadline,
        "answered before the deadline"
    );
}

fn rpc(body: &Value, modern: bool) -> Request<Body> {
    let mut builder = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if modern {
        builder = builder
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "resources/read")
            .header("mcp-name", body["params"]["uri"].as_str().unwrap());
    } else {
        builder = builder.header("mcp-protocol-version", "2025-11-25");
    }
    builder
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn read_call(modern: bool) -> Value {
    let mut params = json!({ "uri": "ctx://alpha/report" });
    if modern {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        });
    }
    json!({ "jsonrpc": "2.0", "id": 7, "method": "resources/read", "params": params })
}

#[tokio::test(start_paused = true)]
async fn mcp_reads_get_a_pending_result_then_the_contents_in_both_eras() {
    for modern in [false, true] {
        let (service, counts) = service(Duration::from_secs(3), AsyncGeneration::new());
        let (pending, body) = send(&service, rpc(&read_call(modern), modern)).await;
        assert_eq!(pending.status(), StatusCode::OK, "{body}");
        let result = &body["result"];
        assert_eq!(result["contents"], json!([]), "{body}");
        assert_eq!(
            result["_meta"]["io.github.mcp-bastion/pending"]["retryAfterMs"],
            1000
        );
        if modern {
            assert_eq!(result["resultType"], "pending");
            assert_eq!(result["retryAfterMs"], 1000);
            assert_eq!(result["ttlMs"], 0);
        }
        let hint = pending
            .extensions()
            .get::<crate::context::CacheHint>()
            .unwrap();
        assert_eq!(hint.scope, crate::context::CacheScope::NoStore);
        let (done, body) = send(&service, rpc(&read_call(modern), modern)).await;
        assert_eq!(done.status(), StatusCode::OK);
        assert_eq!(
            body["result"]["contents"][0]["text"], "for anonymous",
            "{body}"
        );
        if modern {
            assert_eq!(body["result"]["resultType"], "complete");
        }
        assert_eq!(counts.started.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn a_source_may_answer_pending_itself() {
    let calls = Arc::new(Mutex::new(0));
    let seen = Arc::clone(&calls);
    let source = source_fn(move |_id: ContextId, _request: SourceRequest| {
        let mut calls = seen.lock().unwrap();
        *calls += 1;
        let ready = *calls > 1;
        async move {
            if ready {
                Ok(ContextEntry::text("report", "markdown", "ready"))
            } else {
                Err(SourceError::Pending {
                    retry_after: Duration::from_millis(2500),
                })
            }
        }
    });
    // Without asynchronous generation: the source's own estimate.
    let service = McpService::new(source);
    let (pending, body) = send(&service, get("/context/alpha/report", None)).await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    assert_eq!(pending.headers()[header::RETRY_AFTER], "3");
    assert_eq!(body["retryAfter"], 3);
    let (done, _) = send(&service, get("/context/alpha/report", None)).await;
    assert_eq!(done.status(), StatusCode::OK);
}

#[test]
fn settings_are_validated() {
    let build = |settings: AsyncGeneration| Endpoint::builder().async_generation(settings).build();
    assert!(build(AsyncGeneration::new()).is_ok());
    assert!(build(AsyncGeneration::new().max_jobs(0)).is_err());
    assert!(build(AsyncGeneration::new().max_concurrent(0)).is_err());
    assert!(build(AsyncGeneration::new().max_per_caller(0)).is_err());
    assert!(build(AsyncGeneration::new().retry_after(Duration::ZERO)).is_err());
    assert!(build(AsyncGeneration::new().abandon_after(Duration::from_secs(1))).is_err());
    assert!(build(AsyncGeneration::new().progress_every(Duration::ZERO)).is_err());
    assert!(
        build(
            AsyncGeneration::new()
                .progress_every(Duration::from_secs(5))
                .max_stream(Duration::from_secs(4))
        )
        .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_reads_a_repeated_id_once_through_the_jobs() {
    let (service, counts) = service(Duration::from_secs(3), AsyncGeneration::new());
    let ids: Vec<&str> = std::iter::repeat_n("alpha/report", 50)
        .chain(["alpha/other"])
        .collect();
    let batch = |ids: &[&str]| {
        Request::post("/context")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "ids": ids }).to_string()))
            .unwrap()
    };
    let (answer, body) = send(&service, batch(&ids)).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let results = body["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        51,
        "one answer per id asked, repeats included"
    );
    // Still generating after the short wait: each item says so (503, come back later).
    assert!(results.iter().all(|item| item["status"] == 503), "{body}");
    assert_eq!(results[50]["contextId"], "alpha/other");
    assert_eq!(
        counts.started.load(Ordering::SeqCst),
        2,
        "two distinct ids, two jobs"
    );
    // The same batch later picks the finished jobs up: no new source call.
    let (_, body) = send(&service, batch(&ids)).await;
    let results = body["results"].as_array().unwrap();
    assert!(results.iter().all(|item| item["status"] == 200), "{body}");
    assert_eq!(results[0]["context"]["data"]["content"], "for anonymous");
    assert_eq!(counts.started.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn without_jobs_a_batch_still_reads_a_repeated_id_once() {
    let (source, counts) = slow(Duration::from_millis(10));
    let service = McpService::new(source);
    let ids = vec!["alpha/report"; 100];
    let request = Request::post("/context")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "ids": ids }).to_string()))
        .unwrap();
    let (_, body) = send(&service, request).await;
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 100);
    assert!(results.iter().all(|item| item["status"] == 200), "{body}");
    assert_eq!(counts.started.load(Ordering::SeqCst), 1);
}
