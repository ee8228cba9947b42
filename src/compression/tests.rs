//! The compression layers in the stack, in memory: round trips per coding, `Vary`, `ETag`
//! and 304s through the cache, the size and type rules, the listing filter, and request
//! bodies (decoding, the zip bomb, unknown codings) in both dialects.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{Service, ServiceExt, service_fn};

use super::CompressionConfig;
use crate::auth::{ApiKey, ApiKeyStore, AuthLayer};
use crate::cache::ContextCacheLayer;
use crate::client_addr::ClientAddr;
use crate::context::{ContextEntry, ContextId, StaticSource};
use crate::error::BoxError;
use crate::mcp::Endpoint;
use crate::policy::{Policy, PolicyHandle};
use crate::principal::{AuthMethod, Principal};
use crate::stack::Stack;

type Body = Full<Bytes>;
pub(super) const TOKEN: &str = "Bearer dev-token-0123456789ab";

#[path = "../../tests/common/build_history.rs"]
mod build_history;
use build_history::build_history;

pub(super) fn stack(
    config: CompressionConfig,
    cache: bool,
) -> crate::stack::StackService<crate::mcp::McpService<StaticSource>> {
    stack_with(
        config,
        cache.then(|| ContextCacheLayer::builder().build().unwrap()),
    )
}

/// The demo-like stack: compression as `config`, `cache` behind the policy.
pub(super) fn stack_with(
    config: CompressionConfig,
    cache: Option<ContextCacheLayer>,
) -> crate::stack::StackService<crate::mcp::McpService<StaticSource>> {
    let keys = ApiKeyStore::new([ApiKey::new(
        "dev-token-0123456789ab",
        Principal::new("dev", AuthMethod::ApiKey).with_role("developer"),
    )
    .unwrap()])
    .unwrap();
    let policy = Policy::from_toml(
        r#"
        roles = ["developer"]
        [[rules]]
        id = "developers-read"
        effect = "allow"
        roles = ["developer"]
        actions = ["read", "list"]
        contexts = ["docs/**"]
        "#,
    )
    .unwrap();
    let mut source = StaticSource::new()
        .with_context(
            ContextId::parse("docs/history").unwrap(),
            ContextEntry::text("buildHistory", "json", build_history(500)).with_version("7"),
        )
        .with_context(
            ContextId::parse("docs/small").unwrap(),
            ContextEntry::text("note", "text", "hello").with_version("1"),
        );
    for n in 0..40 {
        source = source.with_context(
            ContextId::parse(&format!("secret/item-{n:02}")).unwrap(),
            ContextEntry::text("note", "text", "classified"),
        );
        source = source.with_context(
            ContextId::parse(&format!("docs/page-{n:02}")).unwrap(),
            ContextEntry::text("note", "text", "public"),
        );
    }
    let endpoint = Endpoint::builder().body_limit(64 * 1024).build().unwrap();
    let mut stack = Stack::new(endpoint)
        .auth(AuthLayer::builder().api_keys(keys))
        .policy(PolicyHandle::new(policy))
        .compression(config);
    if let Some(cache) = cache {
        stack = stack.cache(cache);
    }
    stack.serve_source(source).unwrap()
}

pub(super) fn get(path: &str, accept_encoding: Option<&'static str>) -> Request<Body> {
    let mut request = Request::get(path)
        .header(header::AUTHORIZATION, TOKEN)
        .body(Body::default())
        .unwrap();
    if let Some(value) = accept_encoding {
        request
            .headers_mut()
            .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
    }
    request
        .extensions_mut()
        .insert(ClientAddr("192.0.2.8:4000".parse().unwrap()));
    request
}

pub(super) fn rpc(body: Bytes, content_encoding: Option<&'static str>) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header(header::AUTHORIZATION, TOKEN)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(Body::new(body))
        .unwrap();
    if let Some(value) = content_encoding {
        request
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(value));
    }
    request
        .extensions_mut()
        .insert(ClientAddr("192.0.2.8:4000".parse().unwrap()));
    request
}

pub(super) async fn send<S, B>(service: &S, request: Request<Body>) -> Response<Bytes>
where
    S: Service<Request<Body>, Response = Response<B>, Error: std::fmt::Debug> + Clone,
    B: http_body::Body<Data = Bytes, Error: std::fmt::Debug>,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

/// Decodes a response body by its `Content-Encoding`, with tower-http's (client-side)
/// decompression, so the test does not trust our own code to undo itself.
pub(super) async fn decode(response: &Response<Bytes>) -> Bytes {
    let mut copy = Response::new(Full::new(response.body().clone()));
    *copy.headers_mut() = response.headers().clone();
    let mut copy = Some(copy);
    let decoder =
        tower_http::decompression::Decompression::new(service_fn(move |_: Request<Body>| {
            let response = copy.take().unwrap();
            async move { Ok::<_, BoxError>(response) }
        }));
    let decoded = decoder
        .oneshot(Request::new(Body::default()))
        .await
        .unwrap();
    decoded.into_body().collect().await.unwrap().to_bytes()
}

/// Encodes `bytes` in `coding` with tower-http's compression.
async fn encode(coding: &'static str, bytes: Bytes) -> Bytes {
    let mut bytes = Some(bytes);
    let encoder = tower_http::compression::Compression::new(service_fn(move |_: Request<Body>| {
        let body = Full::new(bytes.take().unwrap());
        async move {
            Ok::<_, BoxError>(
                Response::builder()
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .unwrap(),
            )
        }
    }));
    let request = Request::builder()
        .header(header::ACCEPT_ENCODING, coding)
        .body(Body::default())
        .unwrap();
    let response = encoder.oneshot(request).await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_ENCODING], coding);
    response.into_body().collect().await.unwrap().to_bytes()
}

pub(super) fn vary(response: &Response<Bytes>) -> Vec<String> {
    response
        .headers()
        .get_all(header::VARY)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_coding_round_trips_with_vary_and_a_weak_etag() {
    let service = stack(CompressionConfig::default(), false);
    let identity = send(&service, get("/context/docs/history", None)).await;
    assert_eq!(identity.status(), StatusCode::OK);
    assert!(identity.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(identity.headers()[header::ETAG], "\"7\"");
    assert_eq!(vary(&identity).len(), 1);
    assert!(
        vary(&identity)[0].contains("accept-encoding"),
        "{:?}",
        vary(&identity)
    );
    assert!(identity.body().len() > 100_000, "{}", identity.body().len());
    for coding in ["gzip", "br", "zstd"] {
        let response = send(&service, get("/context/docs/history", Some(coding))).await;
        assert_eq!(response.status(), StatusCode::OK, "{coding}");
        assert_eq!(response.headers()[header::CONTENT_ENCODING], coding);
        assert_eq!(response.headers()[header::ETAG], "W/\"7\"", "{coding}");
        assert!(response.headers().get(header::CONTENT_LENGTH).is_none());
        let varies = vary(&response);
        assert_eq!(varies.len(), 1, "{varies:?}");
        assert_eq!(
            varies[0].matches("accept-encoding").count(),
            1,
            "{varies:?}"
        );
        assert!(
            response.body().len() * 5 < identity.body().len(),
            "{coding}"
        );
        let decoded: Value = serde_json::from_slice(&decode(&response).await).unwrap();
        let plain: Value = serde_json::from_slice(identity.body()).unwrap();
        assert_eq!(decoded["data"], plain["data"], "{coding}");
    }
}

#[tokio::test]
async fn small_responses_errors_and_head_stay_identity() {
    let service = stack(CompressionConfig::default(), false);
    let small = send(&service, get("/context/docs/small", Some("gzip"))).await;
    assert_eq!(small.status(), StatusCode::OK);
    assert!(small.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(small.headers()[header::ETAG], "\"1\"");
    assert!(vary(&small)[0].contains("accept-encoding"));
    let denied = send(&service, get("/context/secret/item-01", Some("gzip"))).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert!(denied.headers().get(header::CONTENT_ENCODING).is_none());
    let envelope: Value = serde_json::from_slice(denied.body()).unwrap();
    assert_eq!(envelope["code"], "FORBIDDEN");
    let mut head = get("/context/docs/history", Some("gzip"));
    *head.method_mut() = Method::HEAD;
    let head = send(&service, head).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().get(header::CONTENT_ENCODING).is_none());
    assert!(head.body().is_empty());
    // A lower minimum compresses the small one too.
    let eager = stack(CompressionConfig::default().min_size(1), false);
    let small = send(&eager, get("/context/docs/small", Some("gzip"))).await;
    assert_eq!(small.headers()[header::CONTENT_ENCODING], "gzip");
}

#[tokio::test]
async fn unacceptable_or_garbage_accept_encoding_gets_identity() {
    let service = stack(CompressionConfig::default(), false);
    for value in [
        "*;q=0",
        "identity;q=0",
        "identity;q=0, *;q=0",
        "gzip;q=0, br;q=0, zstd;q=0",
        "compress;q=1, deflate",
        ";;;, ,=,q=,gzip;q=x",
        "gzip;q=7",
    ] {
        let response = send(&service, get("/context/docs/history", Some(value))).await;
        assert_eq!(response.status(), StatusCode::OK, "{value}");
        assert!(
            response.headers().get(header::CONTENT_ENCODING).is_none(),
            "{value}"
        );
        assert_eq!(response.headers()[header::ETAG], "\"7\"", "{value}");
        let json: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(json["contextId"], "docs/history", "{value}");
    }
}

#[tokio::test]
async fn revalidation_with_the_compressed_etag_through_the_cache() {
    let service = stack(CompressionConfig::default(), true);
    let first = send(&service, get("/context/docs/history", Some("br"))).await;
    assert_eq!(first.headers()[header::CONTENT_ENCODING], "br");
    let etag = first.headers()[header::ETAG].clone();
    assert_eq!(etag, "W/\"7\"");
    // Served again from the cache: compressed on the way out, the same weak tag.
    let second = send(&service, get("/context/docs/history", Some("gzip"))).await;
    let status = second.headers()["cache-status"].to_str().unwrap();
    assert!(status.contains("hit"), "{status}");
    assert_eq!(second.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(second.headers()[header::ETAG], "W/\"7\"");
    assert_eq!(decode(&second).await, decode(&first).await);
    // A client without compression gets the identity bytes from the same entry.
    let plain = send(&service, get("/context/docs/history", None)).await;
    assert_eq!(plain.headers()[header::ETAG], "\"7\"");
    assert_eq!(plain.body(), &decode(&first).await);
    // 304 for the weak tag, repeating it; 304 for the strong one, repeating that.
    for (sent, expected) in [("W/\"7\"", "W/\"7\""), ("\"7\"", "\"7\"")] {
        let mut request = get("/context/docs/history", Some("br"));
        request
            .headers_mut()
            .insert(header::IF_NONE_MATCH, HeaderValue::from_static(sent));
        let response = send(&service, request).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{sent}");
        assert_eq!(response.headers()[header::ETAG], expected);
        assert!(response.body().is_empty());
        assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
        assert!(vary(&response)[0].contains("accept-encoding"));
    }
    let mut stale = get("/context/docs/history", Some("br"));
    stale
        .headers_mut()
        .insert(header::IF_NONE_MATCH, HeaderValue::from_static("W/\"6\""));
    assert_eq!(send(&service, stale).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_listing_filter_still_filters_compressed_listings() {
    let service = stack(CompressionConfig::default().min_size(64), false);
    let response = send(&service, get("/context?limit=100", Some("zstd"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "zstd");
    let listing = String::from_utf8(decode(&response).await.to_vec()).unwrap();
    assert!(listing.contains("docs/page-07"), "{listing}");
    assert!(!listing.contains("secret"), "{listing}");
}

pub(super) fn read_request(id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{{"uri":"ctx://{id}"}}}}"#
    )
}

#[tokio::test]
async fn compressed_request_bodies_are_decoded() {
    let service = stack(CompressionConfig::default(), false);
    for coding in ["gzip", "br", "zstd"] {
        let body = encode(coding, Bytes::from(read_request("docs/history"))).await;
        let response = send(&service, rpc(body, Some(coding))).await;
        assert_eq!(response.status(), StatusCode::OK, "{coding}");
        let json: Value = serde_json::from_slice(response.body()).unwrap();
        let text = json["result"]["contents"][0]["text"].as_str().unwrap();
        assert!(text.contains("project-alpha"), "{coding}");
    }
    // Case does not matter.
    let body = encode("gzip", Bytes::from(read_request("docs/small"))).await;
    let response = send(&service, rpc(body, Some("GZIP"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Corrupt data is a bad request, not a server error.
    let response = send(&service, rpc(Bytes::from_static(b"not gzip"), Some("gzip"))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let json: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(json["error"]["code"], -32700);
}

/// 100 MiB of zeros in one gzip member: about 100 KB on the wire.
async fn gzip_bomb() -> Bytes {
    encode("gzip", Bytes::from(vec![0u8; 100 << 20])).await
}

#[tokio::test]
async fn a_zip_bomb_stops_at_the_body_limit_with_413_in_both_dialects() {
    let service = stack(CompressionConfig::default(), false);
    let bomb = gzip_bomb().await;
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    let response = send(&service, rpc(bomb.clone(), Some("gzip"))).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let json: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(json["jsonrpc"], "2.0");
    assert!(json["error"]["message"].as_str().unwrap().contains("65536"));

    let mut batch = Request::post("/context")
        .header(header::AUTHORIZATION, TOKEN)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::new(bomb))
        .unwrap();
    batch
        .extensions_mut()
        .insert(ClientAddr("192.0.2.8:4000".parse().unwrap()));
    let response = send(&service, batch).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let json: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(json["code"], "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn unknown_content_encodings_are_refused_with_415() {
    let service = stack(CompressionConfig::default().brotli(false), false);
    for coding in ["compress", "deflate", "gzip, gzip", "br"] {
        let body = Bytes::from(read_request("docs/small"));
        let mut request = rpc(body, None);
        request
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        let response = send(&service, request).await;
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{coding}"
        );
        assert_eq!(
            response.headers()[header::ACCEPT_ENCODING],
            "gzip, zstd, identity"
        );
        let json: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(json["jsonrpc"], "2.0", "{json}");
        assert!(json["error"]["code"].is_i64(), "{json}");
    }
    let mut request = get("/context/docs/small", None);
    request
        .headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
    let response = send(&service, request).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let json: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(json["code"], "UNSUPPORTED_MEDIA_TYPE");
    // `identity` is no coding at all.
    let body = Bytes::from(read_request("docs/small"));
    let response = send(&service, rpc(body, Some("identity"))).await;
    assert_eq!(response.status(), StatusCode::OK);
}

type Seen = std::sync::Arc<std::sync::Mutex<Option<HeaderValue>>>;

/// The stack in front of a service answering 5000 bytes of `content_type` (and recording the
/// `Accept-Encoding` it saw), with `compression` when given.
fn around_inner(
    compression: Option<CompressionConfig>,
    content_type: &'static str,
) -> (
    impl Service<
        Request<Body>,
        Response = Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
        Error: std::fmt::Debug,
    > + Clone,
    Seen,
) {
    let keys = ApiKeyStore::new([ApiKey::new(
        "dev-token-0123456789ab",
        Principal::new("dev", AuthMethod::ApiKey).with_role("developer"),
    )
    .unwrap()])
    .unwrap();
    let policy = Policy::from_toml(
        r#"
        roles = ["developer"]
        [[rules]]
        id = "developers-read"
        effect = "allow"
        roles = ["developer"]
        actions = ["read"]
        contexts = ["docs/**"]
        "#,
    )
    .unwrap();
    let seen = Seen::default();
    let record = std::sync::Arc::clone(&seen);
    let inner = service_fn(move |request: Request<_>| {
        *record.lock().unwrap() = request.headers().get(header::ACCEPT_ENCODING).cloned();
        async move {
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .header(header::CONTENT_TYPE, content_type)
                    .body(Body::from("x".repeat(5000)))
                    .unwrap(),
            )
        }
    });
    let mut stack = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(keys))
        .policy(PolicyHandle::new(policy));
    if let Some(config) = compression {
        stack = stack.compression(config);
    }
    (stack.service(inner).unwrap(), seen)
}

#[tokio::test]
async fn without_compression_the_stack_passes_encodings_through() {
    let (service, seen) = around_inner(None, "application/json");
    let response = send(&service, get("/context/docs/x", Some("gzip;q=0.5, *;q=0"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    assert!(!vary(&response).concat().contains("accept-encoding"));
    assert_eq!(seen.lock().unwrap().as_ref().unwrap(), "gzip;q=0.5, *;q=0");
    // Nor does it decode or refuse request bodies.
    let mut request = get("/context/docs/x", None);
    request
        .headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
    assert_eq!(send(&service, request).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn event_streams_grpc_and_binary_are_never_compressed() {
    for content_type in [
        "text/event-stream",
        "application/grpc",
        "application/grpc+proto",
        "application/octet-stream",
    ] {
        let (service, seen) = around_inner(Some(CompressionConfig::default()), content_type);
        let response = send(&service, get("/context/docs/x", Some("gzip, br, zstd"))).await;
        assert_eq!(response.status(), StatusCode::OK, "{content_type}");
        assert!(
            response.headers().get(header::CONTENT_ENCODING).is_none(),
            "{content_type}"
        );
        assert_eq!(response.body().len(), 5000, "{content_type}");
        // The layers below see the negotiated coding only.
        assert_eq!(seen.lock().unwrap().as_ref().unwrap(), "zstd");
    }
    let (service, seen) = around_inner(Some(CompressionConfig::default()), "text/markdown");
    let response = send(&service, get("/context/docs/x", Some("*;q=0"))).await;
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(seen.lock().unwrap().as_ref().unwrap(), "identity");
    let response = send(&service, get("/context/docs/x", Some("gzip"))).await;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
}
