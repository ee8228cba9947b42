//! ContextCacheLayer in the recommended stack: the policy guards every hit, sensitivity
//! labels travel with entries, and the signed webhook invalidates.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::cache::{ContextCacheLayer, WebhookSecret};
use mcp_bastion::context::{CacheScope, ContextEntry, ContextId, StaticSource};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::stack::Stack;
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

type Body = Full<Bytes>;

const SECRET: &str = "a-webhook-secret-of-at-least-32-bytes!!";

/// Admins read everything; guests only what is labelled public and not project-alpha.
const POLICY: &str = r#"
roles = ["admin", "guest"]

[labels]
"**" = "public"

[[rules]]
id = "admins"
effect = "allow"
roles = ["admin"]
actions = ["read", "list"]
contexts = ["**"]

[[rules]]
id = "guests-public"
effect = "allow"
roles = ["guest"]
actions = ["read", "list"]
contexts = ["**"]
when = { sensitivity = ["public"] }

[[rules]]
id = "no-alpha-for-guests"
effect = "deny"
roles = ["guest"]
actions = ["*"]
contexts = ["project-alpha/**"]
"#;

fn source() -> StaticSource {
    let public = |text: &str| {
        ContextEntry::text("note", "text", text.to_owned())
            .with_version("1")
            .with_cache(Some(Duration::from_secs(300)), CacheScope::Public)
    };
    StaticSource::new()
        .with_context(
            ContextId::parse("project-alpha/plan").unwrap(),
            public("alpha plan"),
        )
        .with_context(
            ContextId::parse("docs/secret").unwrap(),
            public("labelled confidential by its source").with_label("confidential"),
        )
        .with_context(ContextId::parse("docs/open").unwrap(), public("open"))
}

fn stack(
    cache: &ContextCacheLayer,
) -> impl Service<
    Request<Body>,
    Response = http::Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
    Error = std::convert::Infallible,
> + Clone {
    Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY).unwrap()))
        .cache(cache.clone())
        .invalidation_webhook(cache.handle().webhook(SECRET).unwrap())
        .serve_source(source())
        .unwrap()
}

struct Reply {
    status: StatusCode,
    cache_status: Option<String>,
    body: String,
}

async fn send<S, B>(service: &S, request: Request<Body>) -> Reply
where
    S: Service<Request<Body>, Response = http::Response<B>, Error = std::convert::Infallible>
        + Clone,
    B: http_body::Body<Data = Bytes, Error: std::fmt::Debug>,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let cache_status = response
        .headers()
        .get("cache-status")
        .map(|value| value.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        cache_status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn read(id: &str, token: &str) -> Request<Body> {
    Request::get(format!("/context/{id}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::default())
        .unwrap()
}

fn rpc_read(uri: &str, token: &str) -> Request<Body> {
    let body = json!({"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":uri}});
    Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

#[tokio::test]
async fn a_denied_principal_never_gets_a_cached_body() {
    let cache = ContextCacheLayer::builder().build().unwrap();
    let service = stack(&cache);
    let admin = send(&service, read("project-alpha/plan", "user-admin-token")).await;
    assert_eq!(admin.status, StatusCode::OK);
    assert_eq!(
        admin.cache_status.as_deref(),
        Some("mcp-bastion; fwd=miss; stored")
    );
    let again = send(&service, read("project-alpha/plan", "user-admin-token")).await;
    assert_eq!(again.cache_status.as_deref(), Some("mcp-bastion; hit"));
    // The entry is public, and still no guest gets it: the policy answers first.
    let guest = send(&service, read("project-alpha/plan", "user-guest-token")).await;
    assert_eq!(guest.status, StatusCode::FORBIDDEN);
    assert!(!guest.body.contains("alpha plan"), "{}", guest.body);
    let guest = send(
        &service,
        rpc_read("ctx://project-alpha/plan", "user-guest-token"),
    )
    .await;
    assert_eq!(guest.status, StatusCode::FORBIDDEN);
    assert!(!guest.body.contains("alpha plan"), "{}", guest.body);
    assert_eq!(cache.handle().stats().hits, 1);
}

#[tokio::test]
async fn labels_a_source_gave_are_checked_on_every_hit() {
    let cache = ContextCacheLayer::builder().build().unwrap();
    let service = stack(&cache);
    let admin = send(&service, read("docs/secret", "user-admin-token")).await;
    assert_eq!(admin.status, StatusCode::OK);
    let hit = send(&service, read("docs/secret", "user-admin-token")).await;
    assert_eq!(hit.cache_status.as_deref(), Some("mcp-bastion; hit"));
    // The guest passes the first decision (no rule knows the label), then the labels that
    // came with the cached entry deny it.
    let guest = send(&service, read("docs/secret", "user-guest-token")).await;
    assert_eq!(guest.status, StatusCode::FORBIDDEN);
    assert!(!guest.body.contains("confidential by"), "{}", guest.body);
    let guest = send(&service, rpc_read("ctx://docs/secret", "user-guest-token")).await;
    assert_eq!(guest.status, StatusCode::FORBIDDEN, "{}", guest.body);
    // A public, unlabelled context is shared from the cache.
    send(&service, read("docs/open", "user-admin-token")).await;
    let shared = send(&service, read("docs/open", "user-guest-token")).await;
    assert_eq!(shared.status, StatusCode::OK);
    assert_eq!(shared.cache_status.as_deref(), Some("mcp-bastion; hit"));
}

fn signed(body: &Value, at: u64) -> Request<Body> {
    let body = serde_json::to_vec(body).unwrap();
    let signature = WebhookSecret::new(SECRET).unwrap().sign(at, &body);
    Request::post("/cache/invalidate")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-bastion-signature", signature)
        .body(Body::from(body))
        .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn the_signed_webhook_invalidates_and_refuses_everything_else() {
    let cache = ContextCacheLayer::builder().build().unwrap();
    let service = stack(&cache);
    send(&service, read("docs/open", "user-admin-token")).await;
    assert_eq!(cache.handle().stats().entries, 1);
    // Wrongly signed, stale, malformed: refused, nothing invalidated.
    let mut forged = signed(&json!({"ids": ["docs/open"]}), now());
    forged.headers_mut().insert(
        "x-bastion-signature",
        format!("t={},v1={}", now(), "0".repeat(64))
            .parse()
            .unwrap(),
    );
    assert_eq!(
        send(&service, forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    let stale = signed(&json!({"ids": ["docs/open"]}), now() - 301);
    assert_eq!(send(&service, stale).await.status, StatusCode::UNAUTHORIZED);
    let mut malformed = signed(&json!({"ids": ["docs/open"]}), now());
    malformed
        .headers_mut()
        .insert("x-bastion-signature", "t=1".parse().unwrap());
    assert_eq!(
        send(&service, malformed).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(cache.handle().stats().entries, 1);
    // Signed: invalidated, and a replay of the same request is refused.
    let at = now();
    let valid = signed(&json!({"ids": ["docs/open"]}), at);
    let reply = send(&service, valid).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, r#"{"invalidated":1}"#);
    let replay = signed(&json!({"ids": ["docs/open"]}), at);
    assert_eq!(
        send(&service, replay).await.status,
        StatusCode::UNAUTHORIZED
    );
    let after = send(&service, read("docs/open", "user-admin-token")).await;
    assert_eq!(
        after.cache_status.as_deref(),
        Some("mcp-bastion; fwd=miss; stored")
    );
}
