//! The full stack under `axum::serve`: the client address comes from axum's `ConnectInfo`,
//! and policies with `client_ip` conditions fail closed when it is missing.
#![cfg(feature = "axum")]

mod common;

use std::net::SocketAddr;

use axum::Router;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::stack::Stack;

/// Guests read public docs only from loopback; project-alpha is allowed to guests but
/// denied to loopback callers.
const POLICY: &str = r#"
roles = ["guest"]

[[rules]]
id = "alpha-for-guests"
effect = "allow"
roles = ["guest"]
actions = ["read"]
contexts = ["project-alpha/**"]

[[rules]]
id = "docs-from-loopback-only"
effect = "allow"
roles = ["guest"]
actions = ["read"]
contexts = ["public-docs/**"]
when = { client_ip = ["127.0.0.0/8"] }

[[rules]]
id = "no-alpha-from-loopback"
effect = "deny"
roles = ["*"]
actions = ["*"]
contexts = ["project-alpha/**"]
when = { client_ip = ["127.0.0.0/8", "::1"] }
"#;

fn app() -> Router {
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY).unwrap()))
        .serve_source(common::seed_source())
        .unwrap();
    Router::new().fallback_service(service)
}

async fn status(addr: SocketAddr, path: &str) -> StatusCode {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::get(format!("http://{addr}{path}"))
        .header("authorization", "Bearer user-guest-token")
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let _ = response.into_body().collect().await;
    status
}

#[tokio::test]
async fn connect_info_feeds_client_ip_rules() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app().into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    assert_eq!(
        status(addr, "/context/public-docs/getting-started").await,
        StatusCode::OK
    );
    assert_eq!(
        status(addr, "/context/project-alpha/dependency-graph").await,
        StatusCode::FORBIDDEN,
        "the deny rule applies to a loopback caller"
    );
    server.abort();
}

#[tokio::test]
async fn without_an_address_client_ip_rules_fail_closed() {
    // `axum::serve` without connect info: no layer can know the client address.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app()).await });
    // The deny rule still applies (it cannot be shown not to) ...
    assert_eq!(
        status(addr, "/context/project-alpha/dependency-graph").await,
        StatusCode::FORBIDDEN
    );
    // ... and an allow rule that needs the address does not.
    assert_eq!(
        status(addr, "/context/public-docs/getting-started").await,
        StatusCode::FORBIDDEN
    );
    server.abort();
}
