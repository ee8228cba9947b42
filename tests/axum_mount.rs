//! `Stack::mount` under `axum::serve` over loopback: the endpoint and the RFC 9728 documents
//! mounted by one call, public routes public, unknown routes 404 for everybody, your own
//! handlers behind the same authentication and policy with `Extension<Principal>`.
#![cfg(feature = "axum")]

mod common;

use std::net::SocketAddr;

use axum::extract::Path;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::mcp::{Endpoint, ResourceMetadata};
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::principal::Principal;
use mcp_bastion::stack::Stack;
use serde_json::{Value, json};

const POLICY: &str = r#"
roles = ["admin", "developer", "guest"]

[[rules]]
id = "readers"
effect = "allow"
roles = ["admin", "developer", "guest"]
actions = ["read", "list"]
contexts = ["**"]

[[rules]]
id = "whoami"
effect = "allow"
roles = ["developer"]
actions = ["read"]
paths = ["/whoami"]

[[rules]]
id = "user-pages"
effect = "allow"
roles = ["developer", "guest"]
actions = ["read"]
paths = ["/users/*", "/files/public/*"]

[[rules]]
id = "no-admin-page-for-guests"
effect = "deny"
roles = ["guest"]
actions = ["*"]
paths = ["/users/admin"]
"#;

async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let endpoint = Endpoint::builder()
        .loopback_port(addr.port())
        .resource_metadata(ResourceMetadata::new(&format!("http://{addr}/mcp")).unwrap())
        .build()
        .unwrap();
    let envelope = ErrorEnvelopeLayer::for_endpoint(&endpoint);
    let protected = Router::new()
        .route(
            "/whoami",
            get(|Extension(caller): Extension<Principal>| async move { caller.subject.clone() }),
        )
        .route(
            "/users/{name}",
            get(|Path(name): Path<String>| async move { format!("page of {name}") }),
        )
        .route(
            "/files/{*file}",
            get(|Path(file): Path<String>| async move { format!("file {file}") }),
        );
    let app = Stack::new(endpoint)
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY).unwrap()))
        .mount(protected, common::seed_source())
        .unwrap()
        .route("/health", get(|| async { "ok" }))
        .layer(envelope);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn send(addr: SocketAddr, method: Method, path: &str, token: Option<&str>) -> Reply {
    send_with(addr, method, path, token, &[]).await
}

async fn send_with(
    addr: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = client
        .request(request.body(Full::default()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

#[tokio::test]
async fn public_routes_stay_public_and_unknown_routes_stay_404() {
    let addr = start().await;
    let health = send(addr, Method::GET, "/health", None).await;
    assert_eq!(
        (health.status, &health.body[..]),
        (StatusCode::OK, &b"ok"[..])
    );
    for token in [None, Some("user-dev-token"), Some("not-a-key")] {
        let reply = send(addr, Method::GET, "/nowhere", token).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{token:?}");
        assert_eq!(reply.json()["code"], "NOT_FOUND", "{token:?}");
        assert!(!reply.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    // The health probe's own method rule is axum's, as an envelope.
    let reply = send(addr, Method::POST, "/health", None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["code"], "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn the_endpoint_and_its_metadata_are_mounted() {
    let addr = start().await;
    let resource = format!("http://{addr}/mcp");
    // A 401 names the metadata document, and the document is there without credentials.
    let reply = send(
        addr,
        Method::GET,
        "/context/public-docs/getting-started",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    let url = format!("http://{addr}/.well-known/oauth-protected-resource/mcp");
    assert!(challenge.contains(&url), "{challenge}");
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let reply = send(addr, Method::GET, path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.json()["resource"], json!(resource), "{path}");
    }
    // The REST routes (a read, a listing) and the MCP path answer an authenticated caller.
    let token = Some("user-guest-token");
    let reply = send(
        addr,
        Method::GET,
        "/context/public-docs/getting-started",
        token,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["contextId"], "public-docs/getting-started");
    let reply = send(addr, Method::GET, "/context?limit=1", token).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["items"].as_array().map(Vec::len), Some(1));
    let reply = send(addr, Method::GET, "/context/no/such", token).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // GET on the MCP path reaches the stack (not axum's 404): authentication, then the
    // policy, which grants no GET of /mcp here.
    let reply = send(addr, Method::GET, "/mcp", token).await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "the policy grants no /mcp GET"
    );
    let reply = send(addr, Method::GET, "/mcp", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn own_handlers_get_the_principal_behind_auth_and_policy() {
    let addr = start().await;
    let reply = send(addr, Method::GET, "/whoami", Some("user-dev-token")).await;
    assert_eq!(
        (reply.status, &reply.body[..]),
        (StatusCode::OK, &b"devUser"[..])
    );
    let reply = send(addr, Method::GET, "/whoami", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = send(addr, Method::GET, "/whoami", Some("not-a-key")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // A guest is authenticated but not granted the path: a refusal that names a path.
    let reply = send(addr, Method::GET, "/whoami", Some("user-guest-token")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.json()["message"],
        "Not authorized to access this path."
    );
}

#[tokio::test]
async fn the_policy_decides_on_the_path_the_handler_sees() {
    let addr = start().await;
    let guest = Some("user-guest-token");
    let reply = send(addr, Method::GET, "/users/alice", guest).await;
    assert_eq!(
        (reply.status, &reply.body[..]),
        (StatusCode::OK, &b"page of alice"[..])
    );
    // axum hands the handler `admin` for `%61dmin`: the deny rule must see `admin` too.
    for path in ["/users/admin", "/users/%61dmin", "/users/%61%64%6D%69%6E"] {
        let reply = send(addr, Method::GET, path, guest).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
    }
    let reply = send(addr, Method::GET, "/users/%61dmin", Some("user-dev-token")).await;
    assert_eq!(
        (reply.status, &reply.body[..]),
        (StatusCode::OK, &b"page of admin"[..])
    );
    // Spellings that would carry a request across the boundary of `/files/public/*`.
    for path in [
        "/files/public/%2e%2e%2fsecret",
        "/files/public/%2E%2E",
        "/files/public/a%2Fb",
        "/files/public/a%5Cb",
        "/files/public/a%00",
        "/files/public/%zz",
    ] {
        let reply = send(addr, Method::GET, path, guest).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(reply.json()["code"], "BAD_REQUEST", "{path}");
    }
    let reply = send(addr, Method::GET, "/files/public/notes.txt", guest).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(addr, Method::GET, "/files/private/notes.txt", guest).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn own_handlers_get_the_host_and_origin_checks() {
    let addr = start().await;
    let dev = Some("user-dev-token");
    for header in [("host", "evil.example"), ("origin", "http://evil.example")] {
        let reply = send_with(addr, Method::GET, "/whoami", dev, &[header]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{header:?}");
        // The public probe is outside the stack.
        let reply = send_with(addr, Method::GET, "/health", None, &[header]).await;
        assert_eq!(reply.status, StatusCode::OK, "{header:?}");
    }
}
