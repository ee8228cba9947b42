//! A gRPC service of our own behind the stack, called by a real tonic client over loopback
//! (HTTP/2 without TLS): authentication, rate limits and the policy by gRPC method answer
//! with the gRPC status a client expects (`UNAUTHENTICATED`, `PERMISSION_DENIED`,
//! `RESOURCE_EXHAUSTED`), in trailers-only responses; allowed calls reach the service.
//!
//! The service (`examples/support/text_grpc.rs`, also served by `examples/tonic.rs`) is
//! hand-written with a UTF-8 text codec instead of protobuf, so no code generation or
//! `protoc` is needed.

mod common;
#[path = "../examples/support/text_grpc.rs"]
mod text_grpc;

use std::net::SocketAddr;

use bytes::Bytes;
use http::uri::PathAndQuery;
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::rate_limit::RateLimitConfig;
use mcp_bastion::stack::Stack;
use text_grpc::{Contexts, DELETE, GET, TextCodec};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// Developers may call `Get`; nobody may call `Delete`.
const POLICY: &str = r#"
roles = ["admin", "developer", "guest"]

[[rules]]
id = "developers-get"
effect = "allow"
roles = ["developer"]
actions = ["call"]
grpc = ["/bastion.test.Contexts/Get"]
"#;

/// Three calls per hour for everybody.
const LIMITS: &str = r#"
default = "caller"

[quotas.caller]
requests = 3
window_seconds = 3600
burst = 3
"#;

async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let endpoint = Endpoint::builder()
        .loopback_port(addr.port())
        .build()
        .unwrap();
    let service = Stack::new(endpoint)
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY).unwrap()))
        .rate_limits(RateLimitConfig::from_toml(LIMITS).unwrap().build().unwrap())
        .service(Contexts)
        .unwrap();
    tokio::spawn(mcp_bastion::server::serve(
        listener,
        service,
        std::future::pending(),
    ));
    addr
}

async fn call(addr: SocketAddr, path: &'static str, token: Option<&str>) -> Result<String, Status> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let mut request = tonic::Request::new("alpha".to_owned());
    if let Some(token) = token {
        let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    client
        .unary(request, PathAndQuery::from_static(path), TextCodec)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_tonic_client_gets_the_grpc_status_of_each_refusal() {
    let addr = start().await;
    // No credential: UNAUTHENTICATED, with the message of the refusal.
    let status = call(addr, GET, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // A credential that is not one: UNAUTHENTICATED too.
    let status = call(addr, GET, Some("not-a-key")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // Allowed: the service answers.
    let answer = call(addr, GET, Some("user-dev-token")).await.unwrap();
    assert_eq!(answer, "context alpha");
    // A method the policy does not grant: PERMISSION_DENIED, never reaching the service.
    let status = call(addr, DELETE, Some("user-dev-token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = call(addr, GET, Some("user-guest-token")).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(!status.message().is_empty());
}

#[tokio::test]
async fn over_quota_is_resource_exhausted() {
    let addr = start().await;
    for _ in 0..3 {
        call(addr, GET, Some("user-dev-token")).await.unwrap();
    }
    let status = call(addr, GET, Some("user-dev-token")).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}

/// Sends raw bytes as a gRPC call over HTTP/1.1 (which gRPC does not use) and returns the
/// status and the `grpc-status` header, if any.
async fn raw_http1(
    addr: SocketAddr,
    content_type: &str,
    body: &'static [u8],
) -> (u16, Option<String>) {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::post(format!("http://{addr}{GET}"))
        .header("content-type", content_type)
        .header("authorization", "Bearer user-dev-token")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let grpc_status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let _ = response.into_body().collect().await;
    (status, grpc_status)
}

#[tokio::test]
async fn malformed_grpc_is_refused_without_a_5xx_or_a_hang() {
    let addr = start().await;
    // A frame header announcing 10 bytes, followed by 1: the service refuses the call.
    let (status, grpc_status) = raw_http1(addr, "application/grpc", b"\0\0\0\0\x0aa").await;
    assert!(status < 500, "{status}");
    assert!(
        grpc_status.as_deref().is_some_and(|code| code != "0"),
        "{status} {grpc_status:?}"
    );
    // Not gRPC by its content type: judged as a path (default deny), a REST envelope.
    let (status, grpc_status) = raw_http1(addr, "text/plain", b"alpha").await;
    assert_eq!((status, grpc_status), (403, None));
}
