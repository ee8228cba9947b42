//! Hostile clients against the real stack on a loopback port (issue 9): each test replays an
//! attack that once worked and asserts the safe outcome.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::server::ServerConfig;
use mcp_bastion::stack::Stack;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SEED_POLICY: &str = include_str!("../examples/policy.toml");
const HIDDEN: &str = "project-alpha/dependency-graph";

/// The demo's stack (seed keys and policy) on an ephemeral loopback port.
async fn demo(policy: &str) -> SocketAddr {
    serve(policy, false).await
}

async fn serve(policy: &str, sessions: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let endpoint = Endpoint::builder().sessions(sessions).build().unwrap();
    let service = Stack::new(endpoint)
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(policy).unwrap()))
        .serve_source(common::seed_source())
        .unwrap();
    let limits = ServerConfig::builder()
        .header_read_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    tokio::spawn(async move {
        mcp_bastion::server::serve_with(listener, service, &limits, std::future::pending())
            .await
            .unwrap();
    });
    addr
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn send(request: Request<Full<Bytes>>) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client.request(request).await.expect("loopback request");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn rpc(addr: SocketAddr, token: &str, version: &str, body: &Value) -> Request<Full<Bytes>> {
    Request::post(format!("http://{addr}/mcp"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", version)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())))
        .unwrap()
}

fn get(addr: SocketAddr, path: &str, token: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::default())
        .unwrap()
}

fn call(id: i64, method: &str, params: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// Item 1: two calls sharing an id used to get the `resources/list` answer past the filter.
#[tokio::test]
async fn a_batch_whose_calls_share_an_id_is_refused() {
    let addr = demo(SEED_POLICY).await;
    let batch = json!([
        call(1, "tools/list", &json!({})),
        call(1, "resources/list", &json!({}))
    ]);
    let reply = send(rpc(addr, "user-guest-token", "2025-03-26", &batch)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], -32600);
    assert!(!reply.text.contains("project-alpha"), "{}", reply.text);
    // Distinct ids: the listing is filtered as it should be.
    let batch = json!([
        call(1, "ping", &json!({})),
        call(2, "resources/list", &json!({}))
    ]);
    let reply = send(rpc(addr, "user-guest-token", "2025-03-26", &batch)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.text.contains("project-alpha"), "{}", reply.text);
    assert!(reply.text.contains("public-docs"), "{}", reply.text);
}

/// Item 2: a 1 MiB batch of 9,000 reads used to be answered in full (1.7 MB out).
#[tokio::test]
async fn a_huge_batch_is_refused_before_any_work() {
    let addr = demo(SEED_POLICY).await;
    let calls: Vec<Value> = (0..9000)
        .map(|id| {
            call(
                id,
                "resources/read",
                &json!({"uri": "ctx://public-docs/getting-started"}),
            )
        })
        .collect();
    let reply = send(rpc(
        addr,
        "user-guest-token",
        "2025-03-26",
        &Value::Array(calls),
    ))
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.text.len() < 1024, "{} bytes out", reply.text.len());
}

/// Item 3: a connection that sent half a request line used to stay open for good.
#[tokio::test]
async fn a_stalled_request_is_cut_off() {
    let addr = demo(SEED_POLICY).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /context HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection is still open");
}

/// Item 4: a guest's cursor used to be base64 of the hidden id it stopped at, and any
/// client could craft one.
#[tokio::test]
async fn cursors_reveal_nothing_and_cannot_be_crafted() {
    let addr = demo(SEED_POLICY).await;
    let reply = send(get(addr, "/context?limit=1", "user-guest-token")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cursor = reply.json()["nextCursor"].as_str().unwrap().to_owned();
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(HIDDEN);
    assert!(!cursor.contains(&encoded[..12]), "{cursor}");
    assert!(!reply.text.contains("project-alpha"), "{}", reply.text);
    let crafted = format!("/context?limit=1&cursor={encoded}");
    let reply = send(get(addr, &crafted, "user-guest-token")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // A cursor handed to the guest is not the developer's.
    let foreign = format!("/context?limit=1&cursor={cursor}");
    assert_eq!(
        send(get(addr, &foreign, "user-dev-token")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(get(addr, &foreign, "user-guest-token")).await.status,
        StatusCode::OK
    );
}

/// Item 8: requests the policy layer let through undecided.
#[tokio::test]
async fn every_request_that_reaches_the_endpoint_is_decided() {
    let addr = demo(SEED_POLICY).await;
    // A GET stream on the MCP path (an inner server could replay unfiltered messages).
    let stream = Request::get(format!("http://{addr}/mcp"))
        .header(header::AUTHORIZATION, "Bearer user-guest-token")
        .header(header::ACCEPT, "text/event-stream")
        .header("last-event-id", "1")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(stream).await.status, StatusCode::FORBIDDEN);
    // Methods without a target, and custom ones: no rule names them, so default deny.
    for method in ["completion/complete", "logging/setLevel", "acme/export"] {
        let reply = send(rpc(
            addr,
            "user-guest-token",
            "2025-11-25",
            &call(3, method, &json!({})),
        ))
        .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method}: {}",
            reply.text
        );
        assert_eq!(reply.json()["id"], 3);
    }
    // Subscribing to a hidden resource is a read of it.
    let subscribe = call(
        4,
        "resources/subscribe",
        &json!({"uri": format!("ctx://{HIDDEN}")}),
    );
    let reply = send(rpc(addr, "user-guest-token", "2025-11-25", &subscribe)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // Protocol plumbing still passes.
    let ping = send(rpc(
        addr,
        "user-guest-token",
        "2025-11-25",
        &call(5, "ping", &json!({})),
    ))
    .await;
    assert_eq!(ping.status, StatusCode::OK);
    // Other methods under the REST prefix never reach the endpoint undecided: they are 405.
    let delete = Request::delete(format!("http://{addr}/context/{HIDDEN}"))
        .header(header::AUTHORIZATION, "Bearer user-guest-token")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(delete).await.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// Item 8: `list` rules used to be ignored; listing filters now decide them.
#[tokio::test]
async fn a_list_deny_hides_an_entry_the_caller_may_still_read() {
    let policy = format!(
        "{SEED_POLICY}\n[[rules]]\nid = \"guest-no-list\"\neffect = \"deny\"\nroles = [\"guest\"]\nactions = [\"list\"]\ncontexts = [\"public-docs/**\"]\n"
    );
    let addr = demo(&policy).await;
    let listing = send(get(addr, "/context", "user-guest-token")).await;
    assert!(!listing.text.contains("public-docs"), "{}", listing.text);
    let resources = send(rpc(
        addr,
        "user-guest-token",
        "2025-11-25",
        &call(1, "resources/list", &json!({})),
    ))
    .await;
    assert!(
        !resources.text.contains("public-docs"),
        "{}",
        resources.text
    );
    let read = send(get(
        addr,
        "/context/public-docs/getting-started",
        "user-guest-token",
    ))
    .await;
    assert_eq!(read.status, StatusCode::OK);
}

/// Item 9: authenticated answers used to say `Cache-Control: public`.
#[tokio::test]
async fn authenticated_answers_are_private() {
    let addr = demo(SEED_POLICY).await;
    let reply = send(get(
        addr,
        "/context/public-docs/getting-started",
        "user-guest-token",
    ))
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let cache_control = reply.headers[header::CACHE_CONTROL].to_str().unwrap();
    assert!(cache_control.starts_with("private"), "{cache_control}");
    let vary = reply.headers[header::VARY].to_str().unwrap();
    assert!(
        vary.contains("authorization") && vary.contains("x-api-key"),
        "{vary}"
    );
}

/// Item 11: anyone who learned a session id could use it, or end it.
#[tokio::test]
async fn a_session_belongs_to_the_principal_that_opened_it() {
    let addr = serve(SEED_POLICY, true).await;
    let initialize = call(
        1,
        "initialize",
        &json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
    );
    let opened = send(rpc(addr, "user-guest-token", "2025-11-25", &initialize)).await;
    assert_eq!(opened.status, StatusCode::OK);
    let session = opened.headers["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let with_session = |token: &str| {
        let mut request = rpc(addr, token, "2025-11-25", &call(2, "ping", &json!({})));
        request
            .headers_mut()
            .insert("mcp-session-id", session.parse().unwrap());
        request
    };
    assert_eq!(
        send(with_session("user-guest-token")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(with_session("user-dev-token")).await.status,
        StatusCode::NOT_FOUND
    );
    // DELETE needs a rule for the MCP path; the seed grants none: ending is refused before the
    // endpoint, and the session lives on for its owner.
    let end = Request::delete(format!("http://{addr}/mcp"))
        .header(header::AUTHORIZATION, "Bearer user-dev-token")
        .header("mcp-session-id", session.as_str())
        .body(Full::default())
        .unwrap();
    assert_eq!(send(end).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        send(with_session("user-guest-token")).await.status,
        StatusCode::OK
    );
}

/// Item 7: a source's `last_modified` outside 1970–9999 used to panic the date formatting.
#[tokio::test]
async fn out_of_range_source_dates_do_not_panic() {
    use mcp_bastion::context::{ContextEntry, ContextId, StaticSource};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let far_future = UNIX_EPOCH + Duration::from_secs(1_000_000_000_000);
    let far_past = UNIX_EPOCH - Duration::from_secs(100_000_000_000);
    for (name, when) in [
        ("future", far_future),
        ("past", far_past),
        ("epoch", SystemTime::UNIX_EPOCH),
    ] {
        let source = StaticSource::new().with_context(
            ContextId::parse("docs/a").unwrap(),
            ContextEntry::text("note", "text", "x").with_last_modified(when),
        );
        let service = mcp_bastion::mcp::McpService::new(source);
        let request = Request::get("/context/docs/a")
            .body(Full::<Bytes>::default())
            .unwrap();
        let response = tower::ServiceExt::oneshot(service, request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let envelope: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            envelope["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{name}: {envelope}"
        );
    }
}

/// Item 10: duplicate and mixed credentials used to be resolved silently.
#[tokio::test]
async fn ambiguous_credentials_are_refused() {
    let addr = demo(SEED_POLICY).await;
    let path = format!("http://{addr}/context/{HIDDEN}");
    let twice = Request::get(&path)
        .header("x-api-key", "user-guest-token")
        .header("x-api-key", "user-admin-token")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(twice).await.status, StatusCode::BAD_REQUEST);
    let mixed = Request::get(&path)
        .header(header::AUTHORIZATION, "Bearer user-guest-token")
        .header("x-api-key", "user-admin-token")
        .body(Full::default())
        .unwrap();
    let reply = send(mixed).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(!reply.text.contains("nodes"), "{}", reply.text);
    let garbage_beside_a_key = Request::get(&path)
        .header(header::AUTHORIZATION, "Bearer not-a-key")
        .header("x-api-key", "user-admin-token")
        .body(Full::default())
        .unwrap();
    assert!(send(garbage_beside_a_key).await.status.is_client_error());
}
