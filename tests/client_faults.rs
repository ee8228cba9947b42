//! `McpClient` against a fault-injecting loopback server: a scripted HTTP/1.1 server that
//! answers each request with the next reply of its script (statuses, `Retry-After`, `304`,
//! garbage, truncated and endless bodies) and records what it was sent.

#![cfg(feature = "client")]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use mcp_bastion::client::{
    CacheOutcome, CircuitBreakerLayer, ClientCacheLayer, ClientError, McpClient, RetryLayer,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer.
#[derive(Clone)]
enum Reply {
    /// These bytes, then the connection closes.
    Raw(Vec<u8>),
    /// A chunked body that never ends (a chunk every 10 ms).
    Endless,
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: String,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    /// Answered when the script has run out.
    otherwise: Mutex<Option<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

struct FaultServer {
    addr: SocketAddr,
    script: Arc<Script>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultServer {
    async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            ..Script::default()
        });
        let shared = Arc::clone(&script);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, Arc::clone(&shared)));
            }
        });
        Self { addr, script, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn otherwise(&self, reply: Reply) {
        *self.script.otherwise.lock().unwrap() = Some(reply);
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }
}

async fn answer(mut stream: TcpStream, script: Arc<Script>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut seen = Seen {
        head,
        body: String::new(),
        at: Instant::now(),
    };
    let length: usize = seen
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    seen.body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
    script.seen.lock().unwrap().push(seen);
    let reply = script.replies.lock().unwrap().pop_front();
    let reply = reply.or_else(|| script.otherwise.lock().unwrap().clone());
    match reply {
        Some(Reply::Raw(bytes)) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Some(Reply::Endless) => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = format!("400\r\n{}\r\n", " ".repeat(0x400));
            while stream.write_all(chunk.as_bytes()).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        None => {}
    }
}

/// A complete HTTP/1.1 answer closing its connection.
fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut text = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    Reply::Raw(text.into_bytes())
}

const JSON: (&str, &str) = ("content-type", "application/json");

fn envelope(content: &str) -> String {
    json!({"contextId":"docs/a","version":"v1","timestamp":"2026-01-01T00:00:00.000Z",
           "data":{"type":"markdown","format":"text","content":content}})
    .to_string()
}

fn ok(content: &str) -> Reply {
    reply(200, &[JSON, ("etag", "\"v1\"")], &envelope(content))
}

fn unavailable() -> Reply {
    reply(
        503,
        &[JSON],
        r#"{"code":"UNAVAILABLE","message":"Service temporarily unavailable.","requestId":"r-1"}"#,
    )
}

/// Quick retries (real time: the socket is real), no cache unless a test adds one.
fn builder(url: &str) -> mcp_bastion::client::McpClientBuilder {
    McpClient::builder(url)
        .retry(
            RetryLayer::builder()
                .base_delay(Duration::from_millis(20))
                .build()
                .unwrap(),
        )
        .no_circuit_breaker()
        .no_cache()
        .timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn two_503s_then_a_200_succeed_after_two_retries() {
    let server = FaultServer::start(vec![unavailable(), unavailable(), ok("third time")]).await;
    let client = builder(&server.url()).build().unwrap();
    let context = client.get_context("docs/a").await.unwrap();
    assert_eq!(context.envelope.data.content, "third time");
    assert_eq!(context.etag.as_deref(), Some("\"v1\""));
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.head.starts_with("GET /context/docs/a ")));
}

#[tokio::test]
async fn a_400_is_returned_at_once_with_its_envelope_decoded() {
    let server = FaultServer::start(vec![reply(
        400,
        &[JSON, ("x-request-id", "header-id")],
        r#"{"code":"BAD_REQUEST","message":"invalid context id","details":{"id":".."},"requestId":"body-id"}"#,
    )])
    .await;
    server.otherwise(ok("never"));
    let client = builder(&server.url()).build().unwrap();
    let err = client.get_context("bad").await.unwrap_err();
    let ClientError::Server(refused) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.code.as_deref(), Some("BAD_REQUEST"));
    assert_eq!(refused.message, "invalid context id");
    assert_eq!(refused.request_id.as_deref(), Some("body-id"));
    assert_eq!(refused.details, Some(json!({"id":".."})));
    assert_eq!(server.seen().len(), 1, "a 400 is never retried");
}

#[tokio::test]
async fn retry_after_is_waited_for() {
    let server = FaultServer::start(vec![
        reply(
            429,
            &[JSON, ("retry-after", "1")],
            r#"{"code":"RATE_LIMITED","message":"slow down"}"#,
        ),
        ok("after the wait"),
    ])
    .await;
    let client = builder(&server.url()).build().unwrap();
    let context = client.get_context("docs/a").await.unwrap();
    assert_eq!(context.envelope.data.content, "after the wait");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");

    // Without retries the 429 comes back with its Retry-After decoded.
    let server = FaultServer::start(vec![reply(
        429,
        &[JSON, ("retry-after", "7")],
        r#"{"code":"RATE_LIMITED","message":"slow down"}"#,
    )])
    .await;
    let client = builder(&server.url()).no_retry().build().unwrap();
    let err = client.get_context("docs/a").await.unwrap_err();
    let refused = err.server().expect("the server's error");
    assert_eq!(refused.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(refused.code.as_deref(), Some("RATE_LIMITED"));
}

#[tokio::test]
async fn a_non_idempotent_post_is_not_retried() {
    // `initialize` opens a session: not idempotent. The server does not know server/discover
    // (404 -32601), then fails the initialize with a 503: one initialize, no retry.
    let server = FaultServer::start(vec![
        reply(
            404,
            &[JSON],
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#,
        ),
        unavailable(),
    ])
    .await;
    server.otherwise(unavailable());
    let client = builder(&server.url()).build().unwrap();
    let err = client.connect().await.unwrap_err();
    assert_eq!(err.server().map(|e| e.status), Some(StatusCode::SERVICE_UNAVAILABLE));
    let seen = server.seen();
    let initializes = seen.iter().filter(|s| s.body.contains("\"initialize\"")).count();
    assert_eq!(initializes, 1, "{seen:#?}");
}

#[tokio::test]
async fn the_retry_budget_stops_a_retry_storm() {
    let server = FaultServer::start(Vec::new()).await;
    server.otherwise(unavailable());
    let retry = RetryLayer::builder()
        .max_attempts(5)
        .base_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(2))
        // No refill per second and 10% of the calls: a storm of retries is cut short.
        .budget(Duration::from_secs(10), 0, 0.1)
        .build()
        .unwrap();
    let client = builder(&server.url()).retry(retry).build().unwrap();
    for _ in 0..40 {
        assert!(client.get_context("docs/a").await.is_err());
    }
    let sent = server.seen().len();
    // Without a budget: 40 × 5 = 200 requests.
    assert!(sent <= 40 + 4 + 10, "{sent} requests reached the failing server");
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_half_opens_and_closes() {
    let server = FaultServer::start(Vec::new()).await;
    server.otherwise(unavailable());
    let breaker = CircuitBreakerLayer::builder()
        .minimum_calls(4)
        .failure_ratio(0.5)
        .open_for(Duration::from_millis(300))
        .build()
        .unwrap();
    let client = builder(&server.url())
        .no_retry()
        .circuit_breaker(breaker)
        .build()
        .unwrap();
    for _ in 0..4 {
        let err = client.get_context("docs/a").await.unwrap_err();
        assert!(matches!(err, ClientError::Server(_)), "{err:?}");
    }
    let err = client.get_context("docs/a").await.unwrap_err();
    let ClientError::CircuitOpen(open) = &err else {
        panic!("{err:?}")
    };
    assert!(open.retry_in() <= Duration::from_millis(300));
    assert_eq!(server.seen().len(), 4, "an open circuit sends nothing");

    // The server recovers; after the open period a probe goes through and closes it.
    server.otherwise(ok("back"));
    tokio::time::sleep(Duration::from_millis(350)).await;
    let context = client.get_context("docs/a").await.unwrap();
    assert_eq!(context.envelope.data.content, "back");
    for _ in 0..3 {
        client.get_context("docs/a").await.unwrap();
    }
    assert_eq!(server.seen().len(), 8);
}

#[tokio::test]
async fn a_304_reuses_the_stored_body() {
    let stale = reply(
        200,
        &[JSON, ("etag", "\"v1\""), ("cache-control", "private, max-age=0")],
        &envelope("kept"),
    );
    let not_modified = reply(
        304,
        &[("etag", "\"v1\""), ("cache-control", "private, max-age=60")],
        "",
    );
    let server = FaultServer::start(vec![stale, not_modified]).await;
    let client = builder(&server.url())
        .cache(ClientCacheLayer::builder().build().unwrap())
        .build()
        .unwrap();
    let first = client.get_context("docs/a").await.unwrap();
    assert_eq!(first.cache, Some(CacheOutcome::Miss));
    let second = client.get_context("docs/a").await.unwrap();
    assert_eq!(second.cache, Some(CacheOutcome::Revalidated));
    assert_eq!(second.envelope.data.content, "kept");
    // The 304 renewed it for 60 s: the third read sends nothing.
    let third = client.get_context("docs/a").await.unwrap();
    assert_eq!(third.cache, Some(CacheOutcome::Fresh));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].header("if-none-match").as_deref(), Some("\"v1\""));
}

#[tokio::test]
async fn two_credentials_never_share_a_private_entry() {
    let private = |who: &str| {
        reply(
            200,
            &[JSON, ("etag", "\"v1\""), ("cache-control", "private, max-age=60")],
            &envelope(who),
        )
    };
    let server = FaultServer::start(vec![private("alice's"), private("bob's")]).await;
    let cache = ClientCacheLayer::builder().build().unwrap();
    let alice = builder(&server.url())
        .cache(cache.clone())
        .bearer_token("alice-token")
        .build()
        .unwrap();
    let bob = builder(&server.url())
        .cache(cache)
        .bearer_token("bob-token")
        .build()
        .unwrap();
    assert_eq!(alice.get_context("docs/a").await.unwrap().envelope.data.content, "alice's");
    let answer = bob.get_context("docs/a").await.unwrap();
    assert_eq!(answer.envelope.data.content, "bob's");
    assert_eq!(answer.cache, Some(CacheOutcome::Miss));
    let again = alice.get_context("docs/a").await.unwrap();
    assert_eq!((again.envelope.data.content.as_ref(), again.cache), ("alice's", Some(CacheOutcome::Fresh)));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("authorization").as_deref(), Some("Bearer alice-token"));
    assert_eq!(seen[1].header("authorization").as_deref(), Some("Bearer bob-token"));
}
