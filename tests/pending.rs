//! Asynchronous generation over real loopback sockets, behind the recommended stack (API-key
//! auth, cache): a slow context is answered 202 with `Retry-After` and `Location`, following
//! `Location` gets it, the cache keeps the finished context and never the 202, and another
//! principal never gets a job someone else started.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::cache::ContextCacheLayer;
use mcp_bastion::context::{CacheScope, ContextEntry, ContextId, SourceRequest, source_fn};
use mcp_bastion::mcp::{AsyncGeneration, Endpoint};
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::stack::Stack;
use serde_json::{Value, json};

/// Every role reads everything: the policy still runs on every poll.
const POLICY: &str = r#"
roles = ["developer", "guest"]

[[rules]]
id = "readers"
effect = "allow"
roles = ["developer", "guest"]
actions = ["read", "list"]
contexts = ["**"]
"#;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn fetch(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
) -> (StatusCode, HeaderMap, Value) {
    let response = client
        .request(request)
        .await
        .expect("request over loopback");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn get(url: String, token: &str) -> Request<Full<Bytes>> {
    Request::get(url)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn a_slow_context_is_polled_to_completion_through_the_stack() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    // Generating takes far longer than the endpoint waits, so the first read is pending.
    let source = source_fn(move |id: ContextId, request: SourceRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let who = request
                .principal
                .map(|p| p.identity().to_owned())
                .unwrap_or_default();
            let scope = if id.as_str().starts_with("public/") {
                CacheScope::Public
            } else {
                CacheScope::Private
            };
            Ok(
                ContextEntry::text("impactReport", "markdown", format!("report for {who}"))
                    .with_version("1")
                    .with_cache(Some(Duration::from_secs(300)), scope),
            )
        }
    });
    let endpoint = Endpoint::builder()
        .async_generation(
            AsyncGeneration::new()
                .wait(Duration::from_millis(100))
                .retry_after(Duration::from_secs(1)),
        )
        .build()
        .unwrap();
    let service = Stack::new(endpoint)
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY).unwrap()))
        .cache(ContextCacheLayer::builder().build().unwrap())
        .serve_source(source)
        .unwrap();
    let server = common::spawn_service(service).await;
    let client = Client::builder(TokioExecutor::new()).build_http();

    let url = server.url("/context/private/impact-report");
    let (status, headers, body) = fetch(&client, get(url.clone(), "user-dev-token")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let cache_status = headers["cache-status"].to_str().unwrap();
    assert!(!cache_status.contains("stored"), "{cache_status}");
    assert_eq!(body["status"], "pending");
    let location = headers[header::LOCATION].to_str().unwrap().to_owned();
    assert_eq!(location, "/context/private/impact-report");

    // Another principal asking meanwhile gets a job of its own, never the first one's.
    let (status, _, _) = fetch(&client, get(url.clone(), "user-guest-token")).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // Follow Location (each poll waits briefly for the job) until the context is there.
    let mut done = None;
    for _ in 0..100 {
        let (status, headers, body) =
            fetch(&client, get(server.url(&location), "user-dev-token")).await;
        match status {
            StatusCode::ACCEPTED => tokio::time::sleep(Duration::from_millis(50)).await,
            StatusCode::OK => {
                done = Some((headers, body));
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let (headers, body) = done.expect("the generation finished");
    assert_eq!(body["data"]["content"], "report for ApiKey:devUser");
    assert_eq!(
        headers["cache-status"].to_str().unwrap(),
        "mcp-bastion; fwd=miss; stored"
    );
    // Now a cache hit: no third source call.
    let (status, headers, body) = fetch(&client, get(url.clone(), "user-dev-token")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["cache-status"].to_str().unwrap(),
        "mcp-bastion; hit"
    );
    assert_eq!(body["data"]["content"], "report for ApiKey:devUser");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one job per principal");

    // MCP (2025-11-25) over the same socket: a pending result, never an error.
    let read = json!({"jsonrpc":"2.0","id":1,"method":"resources/read",
        "params":{"uri":"ctx://public/impact-report"}});
    let request = Request::post(server.url("/mcp"))
        .header(header::AUTHORIZATION, "Bearer user-dev-token")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(Full::from(read.to_string()))
        .unwrap();
    let (status, headers, body) = fetch(&client, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["contents"], json!([]), "{body}");
    assert_eq!(
        body["result"]["_meta"]["io.github.mcp-bastion/pending"]["retryAfterMs"],
        1000
    );
    let cache_status = headers["cache-status"].to_str().unwrap();
    assert!(!cache_status.contains("stored"), "{cache_status}");

    // MCP 2026-07-28: `resultType: "pending"`, never stored either; it joins the same job.
    let uri = "ctx://public/impact-report";
    let read = json!({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":uri,
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
                 "io.modelcontextprotocol/clientCapabilities":{}}}});
    let request = Request::post(server.url("/mcp"))
        .header(header::AUTHORIZATION, "Bearer user-dev-token")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "resources/read")
        .header("mcp-name", uri)
        .body(Full::from(read.to_string()))
        .unwrap();
    let (status, headers, body) = fetch(&client, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["resultType"], "pending", "{body}");
    assert_eq!(body["result"]["retryAfterMs"], 1000);
    let cache_status = headers["cache-status"].to_str().unwrap();
    assert!(!cache_status.contains("stored"), "{cache_status}");
    assert_eq!(calls.load(Ordering::SeqCst), 3, "both eras share one job");
    server.shutdown().await;
}

/// The crate's client waits out `Retry-After` and reads again within its deadline; when the
/// next wait would pass the deadline it returns the 202 at once.
#[cfg(feature = "client")]
#[tokio::test]
async fn the_client_follows_a_pending_read_within_its_deadline() {
    use mcp_bastion::client::{ClientError, McpClient};

    let source = source_fn(|_id: ContextId, _request: SourceRequest| async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok(ContextEntry::text("impactReport", "markdown", "ready"))
    });
    let endpoint = Endpoint::builder()
        .async_generation(AsyncGeneration::new().wait(Duration::from_millis(100)))
        .build()
        .unwrap();
    let service = Stack::new(endpoint)
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY).unwrap()))
        .serve_source(source)
        .unwrap();
    let server = common::spawn_service(service).await;

    let client = McpClient::builder(&server.url(""))
        .bearer_token("user-dev-token")
        .build()
        .unwrap();
    let context = client.get_context("alpha/impact-report").await.unwrap();
    assert_eq!(context.envelope.data.content, "ready");

    let impatient = McpClient::builder(&server.url(""))
        .bearer_token("user-dev-token")
        .timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    match impatient.get_context("beta/impact-report").await {
        Err(ClientError::Server(answer)) => {
            assert_eq!(answer.status, StatusCode::ACCEPTED);
            assert_eq!(answer.retry_after, Some(Duration::from_secs(1)));
            assert!(
                answer.message.contains("being generated"),
                "{}",
                answer.message
            );
        }
        other => panic!("expected the pending answer, got {other:?}"),
    }

    // MCP: a pending result is read again, never handed out as empty contents.
    let read = client
        .read_resource("ctx://gamma/impact-report")
        .await
        .unwrap();
    assert_eq!(read.contents.len(), 1);
    assert_eq!(read.contents[0].text.as_deref(), Some("ready"));
    match impatient.read_resource("ctx://delta/impact-report").await {
        Err(ClientError::Server(answer)) => {
            assert_eq!(answer.retry_after, Some(Duration::from_secs(1)));
            assert!(
                answer.message.contains("being generated"),
                "{}",
                answer.message
            );
        }
        other => panic!("expected the pending answer, got {other:?}"),
    }
    server.shutdown().await;
}

/// Counts a source call dropped before it finished.
struct Unfinished(Arc<AtomicUsize>, bool);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The JSON message of every event in `text` (`event: message`, one `data:` line each).
fn events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let data = event
                .strip_prefix("event: message\ndata: ")
                .unwrap_or_else(|| panic!("not one event: {event:?}"));
            serde_json::from_str(data).unwrap()
        })
        .collect()
}

/// A 2025-era read with a progress token over loopback, through the stack (auth, policy,
/// cache): progress notifications as server-sent events, then the result, then the end; a
/// client that hangs up lets the job be cancelled.
#[tokio::test]
async fn a_slow_mcp_read_streams_progress_over_loopback() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&dropped);
    let source = source_fn(move |id: ContextId, _request: SourceRequest| {
        let dropped = Arc::clone(&counted);
        async move {
            let mut guard = Unfinished(dropped, false);
            // `forever/…` never finishes by itself.
            let delay = if id.as_str().starts_with("forever/") {
                3600
            } else {
                2
            };
            tokio::time::sleep(Duration::from_secs(delay)).await;
            guard.1 = true;
            Ok(ContextEntry::text("impactReport", "markdown", "the report")
                .with_cache(Some(Duration::from_secs(300)), CacheScope::Public))
        }
    });
    let endpoint = Endpoint::builder()
        .async_generation(
            AsyncGeneration::new()
                .wait(Duration::from_millis(100))
                .retry_after(Duration::from_millis(200))
                .abandon_after(Duration::from_millis(500))
                .progress_every(Duration::from_millis(200)),
        )
        .build()
        .unwrap();
    let service = Stack::new(endpoint)
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY).unwrap()))
        .cache(ContextCacheLayer::builder().build().unwrap())
        .serve_source(source)
        .unwrap();
    let server = common::spawn_service(service).await;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let read = |uri: &str, token: Value| {
        let body = json!({"jsonrpc":"2.0","id":"r1","method":"resources/read",
            "params":{"uri":uri,"_meta":{"progressToken":token}}});
        Request::post(server.url("/mcp"))
            .header(header::AUTHORIZATION, "Bearer user-dev-token")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(Full::from(body.to_string()))
            .unwrap()
    };

    let response = client
        .request(read("ctx://alpha/impact-report", json!("p-1")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let cache_status = response.headers()["cache-status"].to_str().unwrap();
    assert!(!cache_status.contains("stored"), "{cache_status}");
    let mut body = response.into_body();
    let mut text = String::new();
    let mut frames = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            frames += 1;
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    let messages = events(&text);
    let (last, progress) = messages.split_last().unwrap();
    assert!(!progress.is_empty(), "{text}");
    assert!(frames > 1, "sent as it came, not at once");
    let mut previous = 0;
    for message in progress {
        assert_eq!(message["method"], "notifications/progress");
        assert_eq!(message["params"]["progressToken"], "p-1");
        let n = message["params"]["progress"].as_u64().unwrap();
        assert!(n > previous, "{text}");
        previous = n;
    }
    assert_eq!(last["id"], "r1");
    assert_eq!(
        last["result"]["contents"][0]["text"], "the report",
        "{last}"
    );

    // A client that hangs up mid-stream: the job loses its reader and is cancelled.
    let response = client
        .request(read("ctx://forever/report", json!(9)))
        .await
        .unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(
        events(std::str::from_utf8(&first).unwrap())[0]["params"]["progressToken"],
        9
    );
    drop(body);
    drop(client);
    for _ in 0..100 {
        if dropped.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the source call was dropped"
    );
    server.shutdown().await;
}
