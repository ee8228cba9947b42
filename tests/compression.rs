//! Compression over a real loopback socket: the stack with `.compression(...)` served by
//! `mcp_bastion::server`, spoken to by hyper's client.
#![cfg(feature = "compression")]

mod common;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::cache::ContextCacheLayer;
use mcp_bastion::compression::CompressionConfig;
use mcp_bastion::context::{ContextEntry, ContextId};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::stack::Stack;
use serde_json::Value;
use tower::{ServiceExt, service_fn};

type Body = Full<Bytes>;
type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

const POLICY: &str = r#"
roles = ["developer"]
[[rules]]
id = "developers-read"
effect = "allow"
roles = ["developer"]
actions = ["read", "list"]
contexts = ["**"]
"#;

async fn server() -> common::TestServer {
    server_with(None).await
}

async fn server_with(cache: Option<ContextCacheLayer>) -> common::TestServer {
    let source = common::seed_source().with_context(
        ContextId::parse("project-alpha/builds").unwrap(),
        ContextEntry::text(
            "buildHistory",
            "json",
            common::build_history::build_history(500),
        )
        .with_version("9"),
    );
    let mut stack = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY).unwrap()))
        .compression(CompressionConfig::default());
    if let Some(cache) = cache {
        stack = stack.cache(cache);
    }
    let service = stack.serve_source(source).unwrap();
    common::spawn_service(service).await
}

async fn fetch(client: &HttpClient, request: Request<Body>) -> Response<Bytes> {
    let response = client.request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

/// Decodes a body by its `Content-Encoding` with tower-http's client-side decompression.
async fn decode(response: &Response<Bytes>) -> Bytes {
    let mut copy = Response::new(Body::new(response.body().clone()));
    *copy.headers_mut() = response.headers().clone();
    let mut copy = Some(copy);
    let decoder =
        tower_http::decompression::Decompression::new(service_fn(move |_: Request<Body>| {
            let response = copy.take().unwrap();
            async move { Ok::<_, std::convert::Infallible>(response) }
        }));
    let decoded = decoder
        .oneshot(Request::new(Body::default()))
        .await
        .unwrap();
    decoded.into_body().collect().await.unwrap().to_bytes()
}

/// `bytes` in gzip, by tower-http's compression.
async fn gzip(bytes: Bytes) -> Bytes {
    let mut bytes = Some(bytes);
    let encoder = tower_http::compression::Compression::new(service_fn(move |_: Request<Body>| {
        let body = Body::new(bytes.take().unwrap());
        async move {
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .unwrap(),
            )
        }
    }));
    let request = Request::builder()
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::default())
        .unwrap();
    let response = encoder.oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap().to_bytes()
}

fn read(server: &common::TestServer, accept_encoding: &str) -> Request<Body> {
    Request::get(server.url("/context/project-alpha/builds"))
        .header(header::AUTHORIZATION, "Bearer user-dev-token")
        .header(header::ACCEPT_ENCODING, accept_encoding)
        .body(Body::default())
        .unwrap()
}

fn rpc(server: &common::TestServer, body: Bytes) -> Request<Body> {
    Request::post(server.url("/mcp"))
        .header(header::AUTHORIZATION, "Bearer user-dev-token")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, "gzip")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(Body::new(body))
        .unwrap()
}

#[tokio::test]
async fn compressed_responses_and_requests_over_loopback() {
    let server = server().await;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    let plain = fetch(&client, read(&server, "identity")).await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    let identity: Value = serde_json::from_slice(plain.body()).unwrap();

    let compressed = fetch(&client, read(&server, "gzip, br")).await;
    assert_eq!(compressed.status(), StatusCode::OK);
    assert_eq!(compressed.headers()[header::CONTENT_ENCODING], "br");
    assert_eq!(compressed.headers()[header::ETAG], "W/\"9\"");
    let vary = compressed.headers()[header::VARY].to_str().unwrap();
    assert!(vary.contains("accept-encoding"), "{vary}");
    assert!(compressed.body().len() * 4 < plain.body().len());
    let decoded: Value = serde_json::from_slice(&decode(&compressed).await).unwrap();
    assert_eq!(decoded["data"], identity["data"]);

    let mut revalidate = read(&server, "br");
    revalidate
        .headers_mut()
        .insert(header::IF_NONE_MATCH, "W/\"9\"".parse().unwrap());
    let not_modified = fetch(&client, revalidate).await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.headers()[header::ETAG], "W/\"9\"");

    let call = r#"{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"ctx://public-docs/getting-started"}}"#;
    let response = fetch(&client, rpc(&server, gzip(Bytes::from(call)).await)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let json: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(json["id"], 7);

    // 16 MiB of zeros in about 16 KB: refused at the 1 MiB body limit.
    let bomb = gzip(Bytes::from(vec![0u8; 16 << 20])).await;
    assert!(bomb.len() < 32 * 1024, "{}", bomb.len());
    let response = fetch(&client, rpc(&server, bomb)).await;
    assert_eq!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        response.body()
    );
    let json: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(json["jsonrpc"], "2.0");
    server.shutdown().await;
}

#[tokio::test]
async fn cache_hits_send_the_stored_variant_of_each_coding_over_loopback() {
    let cache = ContextCacheLayer::builder().build().unwrap();
    let handle = cache.handle();
    let server = server_with(Some(cache)).await;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let plain = fetch(&client, read(&server, "identity")).await;
    assert_eq!(plain.status(), StatusCode::OK);
    for (n, coding) in ["gzip", "br", "zstd"].into_iter().enumerate() {
        let first = fetch(&client, read(&server, coding)).await;
        let hit = fetch(&client, read(&server, coding)).await;
        assert_eq!(hit.status(), StatusCode::OK, "{coding}");
        assert_eq!(
            hit.headers()["cache-status"],
            "mcp-bastion; hit",
            "{coding}"
        );
        assert_eq!(hit.headers()[header::CONTENT_ENCODING], coding);
        assert_eq!(hit.headers()[header::ETAG], "W/\"9\"");
        let vary = hit.headers()[header::VARY].to_str().unwrap();
        assert!(vary.contains("accept-encoding"), "{vary}");
        assert_eq!(
            hit.headers()[header::CONTENT_LENGTH],
            hit.body().len().to_string().as_str()
        );
        // The bytes stored by the first request, compressed once.
        assert!(hit.body() == first.body(), "{coding}");
        assert_eq!(handle.stats().encoded, n as u64 + 1, "{coding}");
        assert!(decode(&hit).await == plain.body(), "{coding}");
    }
    server.shutdown().await;
}
