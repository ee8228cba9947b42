use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::context::{ContextEntry, ContextId, ContextSource, SourceRequest, source_fn};
use crate::mcp::{AsyncGeneration, Endpoint, McpService, ResponseBody};

/// Source calls started and dropped unfinished.
#[derive(Default)]
struct Counts {
    started: AtomicUsize,
    dropped: AtomicUsize,
}

struct Unfinished(Arc<Counts>, bool);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.1 {
            self.0.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// An endpoint whose source takes `delay` for every read.
fn service(
    delay: Duration,
    settings: AsyncGeneration,
) -> (McpService<impl ContextSource>, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let seen = Arc::clone(&counts);
    let source = source_fn(move |_id: ContextId, _request: SourceRequest| {
        let counts = Arc::clone(&seen);
        counts.started.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut guard = Unfinished(counts, false);
            tokio::time::sleep(delay).await;
            guard.1 = true;
            Ok(ContextEntry::text("report", "markdown", "the report"))
        }
    });
    let endpoint = Endpoint::builder()
        .async_generation(settings)
        .build()
        .unwrap();
    (McpService::with_endpoint(source, endpoint), counts)
}

fn read(token: Option<Value>, modern: bool, accept: &str) -> Request<Full<Bytes>> {
    let mut params = json!({ "uri": "ctx://alpha/report" });
    if let Some(token) = token {
        params["_meta"] = json!({ "progressToken": token });
    }
    let mut builder = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, accept);
    if modern {
        params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2026-07-28");
        params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({});
        builder = builder
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "resources/read")
            .header("mcp-name", "ctx://alpha/report");
    } else {
        builder = builder.header("mcp-protocol-version", "2025-11-25");
    }
    let body = json!({ "jsonrpc": "2.0", "id": 7, "method": "resources/read", "params": params });
    builder
        .body(Full::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

const BOTH: &str = "application/json, text/event-stream";

/// The JSON messages of the events in `body`, one per frame, until it ends.
async fn events(mut body: ResponseBody) -> Vec<Value> {
    let mut messages = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        messages.push(message(&data));
    }
    messages
}

/// The message of one event (`event: message`, one `data:` line, a blank line).
fn message(event: &[u8]) -> Value {
    let text = std::str::from_utf8(event).unwrap();
    let data = text
        .strip_prefix("event: message\ndata: ")
        .and_then(|rest| rest.strip_suffix("\n\n"))
        .unwrap_or_else(|| panic!("not one event: {text:?}"));
    serde_json::from_str(data).unwrap()
}

fn is_stream(response: &Response<ResponseBody>) -> bool {
    response.headers()[header::CONTENT_TYPE] == "text/event-stream"
}

#[tokio::test(start_paused = true)]
async fn a_slow_read_streams_progress_then_the_result_then_ends() {
    // 45 s: longer than the abandonment (30 s), which a streaming reader holds off.
    let (service, counts) = service(Duration::from_secs(45), AsyncGeneration::new());
    let response = service
        .clone()
        .oneshot(read(Some(json!("read-1")), false, BOTH))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(is_stream(&response));
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let messages = events(response.into_body()).await;
    let (last, progress) = messages.split_last().unwrap();
    assert!(
        progress.len() >= 40,
        "about one a second: {}",
        progress.len()
    );
    let mut previous = 0;
    for message in progress {
        assert_eq!(message["jsonrpc"], "2.0");
        assert_eq!(message["method"], "notifications/progress");
        assert!(message.get("id").is_none(), "a notification: {message}");
        let params = &message["params"];
        assert_eq!(params["progressToken"], "read-1");
        assert!(params.get("total").is_none(), "unknown: {params}");
        assert!(params["message"].is_string());
        let progress = params["progress"].as_u64().unwrap();
        assert!(progress > previous, "strictly increasing");
        previous = progress;
    }
    assert_eq!(last["id"], 7);
    assert_eq!(
        last["result"]["contents"][0]["text"], "the report",
        "{last}"
    );
    assert!(last["result"].get("resultType").is_none(), "2025 era");
    assert_eq!(counts.started.load(Ordering::SeqCst), 1);
    assert_eq!(service.shared.jobs.as_ref().unwrap().len(), 0, "picked up");
}

#[tokio::test(start_paused = true)]
async fn an_integer_token_is_echoed_and_the_stream_is_capped() {
    let settings = AsyncGeneration::new()
        .progress_every(Duration::from_millis(500))
        .max_stream(Duration::from_secs(5));
    let (service, _) = service(Duration::from_secs(3600), settings);
    let response = service
        .clone()
        .oneshot(read(Some(json!(42)), false, BOTH))
        .await
        .unwrap();
    assert!(is_stream(&response));
    let messages = events(response.into_body()).await;
    let (last, progress) = messages.split_last().unwrap();
    assert!(
        (8..=12).contains(&progress.len()),
        "every 500 ms for 5 s: {}",
        progress.len()
    );
    assert!(progress.iter().all(|m| m["params"]["progressToken"] == 42));
    // At the cap: the pending result, as a read without a token gets.
    assert_eq!(last["id"], 7);
    assert_eq!(last["result"]["contents"], json!([]), "{last}");
    assert_eq!(
        last["result"]["_meta"]["io.github.mcp-bastion/pending"]["retryAfterMs"],
        1000
    );
    // The job goes on for the next read.
    assert_eq!(service.shared.jobs.as_ref().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_client_leaving_the_stream_lets_the_job_be_abandoned() {
    let (service, counts) = service(Duration::from_secs(3600), AsyncGeneration::new());
    let response = service
        .clone()
        .oneshot(read(Some(json!("t")), false, BOTH))
        .await
        .unwrap();
    let mut body = response.into_body();
    for expected in 1..=3 {
        let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(message(&data)["params"]["progress"], expected);
    }
    drop(body);
    assert_eq!(service.shared.jobs.as_ref().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(service.shared.jobs.as_ref().unwrap().len(), 0, "abandoned");
    assert_eq!(
        counts.dropped.load(Ordering::SeqCst),
        1,
        "its source call dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_token_or_the_event_stream_or_in_2026_the_answer_is_the_pending_result() {
    let cases = [
        (None, false, BOTH),
        (Some(json!("t")), true, BOTH),
        // Not a valid token (MCP: a string or an integer).
        (Some(json!(1.5)), false, BOTH),
        (Some(json!({ "a": 1 })), false, BOTH),
    ];
    for (token, modern, accept) in cases {
        let (service, _) = service(Duration::from_secs(3600), AsyncGeneration::new());
        let response = service
            .clone()
            .oneshot(read(token.clone(), modern, accept))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!is_stream(&response), "{token:?} modern={modern}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["result"]["contents"], json!([]), "{body}");
        if modern {
            assert_eq!(body["result"]["resultType"], "pending");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_fast_read_with_a_token_is_answered_whole() {
    let (service, _) = service(Duration::from_millis(100), AsyncGeneration::new());
    let response = service
        .oneshot(read(Some(json!("t")), false, BOTH))
        .await
        .unwrap();
    assert!(!is_stream(&response));
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["result"]["contents"][0]["text"], "the report");
}

#[test]
fn only_strings_and_integers_are_tokens() {
    let call = |meta: Value| crate::mcp::RpcCall {
        id: Some(json!(1)),
        method: "resources/read".into(),
        params: json!({ "_meta": meta }).as_object().cloned().unwrap(),
        target: None,
    };
    assert_eq!(
        super::token(&call(json!({ "progressToken": "a" }))),
        Some(json!("a"))
    );
    assert_eq!(
        super::token(&call(json!({ "progressToken": -3 }))),
        Some(json!(-3))
    );
    assert_eq!(super::token(&call(json!({ "progressToken": null }))), None);
    assert_eq!(super::token(&call(json!({ "progressToken": [1] }))), None);
    assert_eq!(super::token(&call(json!({}))), None);
    let long = "x".repeat(super::MAX_TOKEN_BYTES);
    assert_eq!(
        super::token(&call(json!({ "progressToken": long }))),
        Some(json!(long))
    );
    let huge = "x".repeat(super::MAX_TOKEN_BYTES + 1);
    assert_eq!(super::token(&call(json!({ "progressToken": huge }))), None);
}
