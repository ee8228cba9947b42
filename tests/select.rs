//! Selective retrieval over real loopback sockets, through the demo's stack (API keys, the
//! demo policy, the cache) and its large build history: pointers, pages walked to the end
//! with cursors, MCP in both eras, refusals, and the policy in front of every selection.

mod common;

#[path = "../examples/support/build_history.rs"]
mod build_history;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::cache::ContextCacheLayer;
use mcp_bastion::context::{ContextEntry, ContextId};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::stack::Stack;
use serde_json::{Value, json};

const DEMO_POLICY: &str = include_str!("../examples/policy.toml");

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn demo() -> common::TestServer {
    let source = common::seed_source().with_context(
        ContextId::parse("project-alpha/build-history").unwrap(),
        ContextEntry::text("buildHistory", "json", build_history::build_history())
            .with_version("1.0.0"),
    );
    let endpoint = Endpoint::default();
    let cache = ContextCacheLayer::builder()
        .endpoint(&endpoint)
        .build()
        .unwrap();
    let stack = Stack::new(endpoint)
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(DEMO_POLICY).unwrap()))
        .cache(cache)
        .serve_source(source)
        .unwrap();
    common::spawn_service(stack).await
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    size: usize,
    body: Value,
}

async fn fetch(client: &HttpClient, request: Request<Full<Bytes>>) -> Reply {
    let response = client.request(request).await.expect("loopback");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        size: bytes.len(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn get(server: &common::TestServer, path: &str, token: &str) -> Request<Full<Bytes>> {
    Request::get(server.url(path))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::default())
        .unwrap()
}

fn read(server: &common::TestServer, params: Value, modern: bool) -> Request<Full<Bytes>> {
    let mut params = params;
    let mut request = Request::post(server.url("/mcp"))
        .header(header::AUTHORIZATION, "Bearer user-dev-token")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if modern {
        params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                 "io.modelcontextprotocol/clientCapabilities": {}});
        request = request
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "resources/read")
            .header("mcp-name", params["uri"].as_str().unwrap());
    } else {
        request = request.header("mcp-protocol-version", "2025-11-25");
    }
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "resources/read", "params": params});
    request.body(Full::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn the_demo_build_history_selected_paged_and_guarded() {
    let server = demo().await;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let history = "/context/project-alpha/build-history";
    let whole = fetch(&client, get(&server, history, "user-dev-token")).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert!(whole.body["data"]["content"].as_str().unwrap().len() >= 100 * 1024);

    // One build, then one field of two builds: a fraction of the whole.
    let one = fetch(
        &client,
        get(
            &server,
            &format!("{history}?select=/builds/499"),
            "user-dev-token",
        ),
    )
    .await;
    assert_eq!(one.status, StatusCode::OK);
    let build: Value = serde_json::from_str(one.body["data"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(build["number"], 500);
    assert!(
        one.size * 100 < whole.size,
        "{} vs {}",
        one.size,
        whole.size
    );
    let two = format!("{history}?select=/builds/0/status&select=/builds/499/status");
    let two = fetch(&client, get(&server, &two, "user-dev-token")).await;
    let statuses: Value =
        serde_json::from_str(two.body["data"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(statuses.as_object().unwrap().len(), 2);

    // Every build once, 100 at a time.
    let first = format!("{history}?select=/builds&limit=100");
    let mut path = first.clone();
    let mut numbers = Vec::new();
    loop {
        let page = fetch(&client, get(&server, &path, "user-dev-token")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(page.body["selection"]["total"], 500);
        let builds: Vec<Value> =
            serde_json::from_str(page.body["data"]["content"].as_str().unwrap()).unwrap();
        numbers.extend(builds.iter().map(|build| build["number"].as_u64().unwrap()));
        let Some(cursor) = page.body["selection"]["nextCursor"].as_str() else {
            break;
        };
        path = format!("{history}?select=/builds&limit=100&cursor={cursor}");
    }
    assert_eq!(numbers, (1..=500).collect::<Vec<_>>());
    // The first page again: from the cache.
    let again = fetch(&client, get(&server, &first, "user-dev-token")).await;
    assert_eq!(again.headers["cache-status"], "mcp-bastion; hit");

    // MCP, both eras: the same selection, the same bytes.
    let mut texts = Vec::new();
    for modern in [false, true] {
        let params = json!({"uri": "ctx://project-alpha/build-history", "select": ["/builds/7/status", "/project"]});
        let reply = fetch(&client, read(&server, params, modern)).await;
        assert_eq!(reply.status, StatusCode::OK);
        texts.push(reply.body["result"]["contents"][0]["text"].clone());
        let bad = json!({"uri": "ctx://project-alpha/build-history", "select": "/builds/500"});
        let reply = fetch(&client, read(&server, bad, modern)).await;
        assert_eq!(reply.body["error"]["code"], -32602);
        assert_eq!(reply.body["error"]["data"]["select"], "/builds/500");
    }
    assert_eq!(texts[0], texts[1]);

    // Refusals in the REST envelope; the policy still comes first.
    let bad = fetch(
        &client,
        get(
            &server,
            &format!("{history}?select=/builds/500"),
            "user-dev-token",
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["details"]["select"], "/builds/500");
    let guest = fetch(
        &client,
        get(
            &server,
            &format!("{history}?select=/builds/0"),
            "user-guest-token",
        ),
    )
    .await;
    assert_eq!(guest.status, StatusCode::FORBIDDEN);
    let guest = fetch(
        &client,
        get(
            &server,
            &format!("{history}?select=/builds/500"),
            "user-guest-token",
        ),
    )
    .await;
    assert_eq!(guest.status, StatusCode::FORBIDDEN);
    server.shutdown().await;
}
